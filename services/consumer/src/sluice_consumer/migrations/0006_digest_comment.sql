-- Sluice: the content digest's description, corrected. Migration 0002 described it as BLAKE2b-128; the consumer has
-- always written the first 16 bytes of a SHA-256. A comment only: no table rewrite, no data touched.
COMMENT ON COLUMN events.content_digest IS
    'SHA-256 (first 16 bytes) of the event''s envelope fields and payload, written by the consumer; compared on '
    'the duplicate path only (NULL: stored before migration 0002)';
