-- Sluice: sluice_writer, the role the consumer connects as. It may add events and read them back, nothing more:
-- no UPDATE, DELETE or TRUNCATE, and, not owning the table, no ALTER or DROP; no CREATE anywhere. A bug or an
-- injected statement on the hot path then cannot rewrite, empty or drop what was stored. The migrations keep
-- running as the schema owner. A table added by a later migration is granted to the writer by that migration.
--
-- Roles belong to the whole cluster, grants to each database: several databases on one server (a test suite,
-- parallel runs) apply this file concurrently. The role is created once; a creator that loses the race waits
-- for the winner's commit and fails on the catalog's unique index (unique_violation) or finds the role
-- (duplicate_object), which the guards below swallow. The grants are per database and serialized by the
-- migrations' own table lock.
DO $$
DECLARE
    writer pg_catalog.pg_roles%ROWTYPE;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'sluice_writer') THEN
        BEGIN
            CREATE ROLE sluice_writer LOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- created meanwhile by the same migration in another database
        END;
    END IF;
    SELECT * INTO STRICT writer FROM pg_catalog.pg_roles WHERE rolname = 'sluice_writer';
    -- A role of that name made by hand with more power would void the point of this one: refuse it.
    IF writer.rolsuper OR writer.rolcreaterole OR writer.rolcreatedb OR writer.rolreplication
       OR writer.rolbypassrls THEN
        RAISE EXCEPTION 'role sluice_writer exists with SUPERUSER, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS'
            USING HINT = 'drop it or remove those attributes, then migrate again';
    END IF;
    IF NOT writer.rolcanlogin THEN
        ALTER ROLE sluice_writer LOGIN;
    END IF;
    -- On RDS, IAM database authentication: the consumer logs in with IAM tokens (end-to-end through RDS Proxy).
    -- Absent elsewhere. In Secrets Manager mode the migrations function takes the role out again (a member of
    -- rds_iam may log in with IAM tokens only, and there the proxy logs in with the writer's password).
    IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'rds_iam')
       AND NOT pg_catalog.pg_has_role('sluice_writer', 'rds_iam', 'MEMBER') THEN
        BEGIN
            GRANT rds_iam TO sluice_writer;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- granted meanwhile by the same migration in another database
        END;
    END IF;
END
$$;

-- PostgreSQL 15 made this the default; a database created by an older version still lets everyone create here.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO sluice_writer;
-- INSERT: the binary COPY and the idempotent INSERT ... ON CONFLICT DO NOTHING RETURNING (which also reads).
-- SELECT: the duplicate path compares what is stored; tests and operators read back.
GRANT INSERT, SELECT ON events TO sluice_writer;
-- The consumer may read which migrations a database has (it refuses to write to a schema behind its code).
GRANT SELECT ON sluice_schema_migrations TO sluice_writer;
