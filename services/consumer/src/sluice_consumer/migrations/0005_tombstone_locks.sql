-- Sluice: a tombstone row without a version is a lock row. Upserts and updates of a table that has a delete sink
-- first make sure a row exists for each key they write (version NULL until a delete sets one) and lock it, and a
-- delete locks the same row when it writes its version: so a delete and an upsert of one key running in two
-- invocations at once take turns, and the second sees what the first committed (without it an upsert whose
-- transaction was still open when a newer delete committed kept its row).
ALTER TABLE sluice_sink_tombstones ALTER COLUMN version DROP NOT NULL;

COMMENT ON COLUMN sluice_sink_tombstones.version IS
    'Version (as JSON) of the delete that removed the row; NULL: no delete yet, the row only serializes writers';
