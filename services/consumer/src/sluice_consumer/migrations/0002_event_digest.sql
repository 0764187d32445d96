-- Sluice: a digest of each event's content, so a reused event_id with different content is caught.
-- BLAKE2b-128 of the envelope fields (event_type, source, occurred_at as sent, schema_version) and the payload
-- as serialized, computed by the consumer. On the duplicate path only, it is compared with the incoming event's:
-- equal means an exact redelivery (a silent duplicate); different is confirmed field by field in SQL (jsonb
-- equality, so key order and whitespace never count) before the message is dead-lettered as a
-- conflicting_duplicate. Rows stored before this migration have no digest and are compared field by field.
ALTER TABLE events ADD COLUMN IF NOT EXISTS content_digest bytea;

COMMENT ON COLUMN events.content_digest IS
    'BLAKE2b-128 of the event''s envelope fields and payload, written by the consumer (NULL: stored before 0002)';
