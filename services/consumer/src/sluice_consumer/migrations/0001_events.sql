-- Sluice: one row per event, keyed on the producer's event_id (the idempotency key).
-- RDS-Proxy-safe by design: no sequence-backed columns (serial/identity), nothing that needs session state.
-- No secondary index: every index slows the write path; add the ones your queries need in a later migration.
-- The CHECK constraints repeat the message contract as a last line of defence for writers other than Sluice.
CREATE TABLE IF NOT EXISTS events (
    event_id        uuid        PRIMARY KEY,
    event_type      text        NOT NULL CHECK (event_type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$'
                                                AND length(event_type) <= 128),
    source          text        NOT NULL CHECK (length(source) BETWEEN 1 AND 256),
    occurred_at     timestamptz NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version BETWEEN 1 AND 10000),
    payload         jsonb       NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    sqs_message_id  text        NOT NULL,
    receive_count   integer     NOT NULL CHECK (receive_count >= 1),
    received_at     timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE events IS 'Sluice: events consumed from SQS, stored once per event_id';
COMMENT ON COLUMN events.sqs_message_id IS 'SQS message id of the delivery that stored the row (changes on DLQ replay)';
COMMENT ON COLUMN events.receive_count IS 'ApproximateReceiveCount of the delivery that stored the row';
COMMENT ON COLUMN events.received_at IS 'When the consumer committed the row (server clock)';

