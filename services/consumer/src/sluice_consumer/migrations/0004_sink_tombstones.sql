-- Sluice: tombstones for delete sinks. A delete sink removes a row and records here the version of the event that
-- removed it, so that an older upsert or update arriving afterwards (SQS reorders, redelivers, replays) stays out
-- of the table. One row per table and key; the version is kept as JSON of the version column's value and compared
-- after a cast back to that column's type.
CREATE TABLE IF NOT EXISTS sluice_sink_tombstones (
    sink_table  text        NOT NULL,  -- schema-qualified, as the sink names it: public.orders
    row_key     text[]      NOT NULL,  -- the key columns' values as text, in the sink's key order
    version     jsonb       NOT NULL,
    deleted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sink_table, row_key)
);

COMMENT ON TABLE sluice_sink_tombstones IS 'Sluice: rows removed by delete sinks, with the version that removed them';

-- The consumer's role (created by 0003 where it runs) reads and writes tombstones.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sluice_writer') THEN
        GRANT SELECT, INSERT, UPDATE ON sluice_sink_tombstones TO sluice_writer;
    END IF;
END
$$;
