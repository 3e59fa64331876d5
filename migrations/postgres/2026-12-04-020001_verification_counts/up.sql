-- Verification analytics: how many `POST /v1/verify` calls ended in each
-- outcome, per organization, API key, identity and minute. Counted in
-- memory on the verify path and added here in batches
-- (KEYGATE_ANALYTICS_FLUSH_MS), so the count of a row only grows; rows
-- older than KEYGATE_ANALYTICS_RETENTION_DAYS are purged hourly.
-- `api_key_id` and `identity_id` are '' when the verify had none (a
-- malformed or unknown key, a key without an identity), which keeps the
-- primary key to plain NOT NULL columns on both backends. `minute` is the
-- minute's start in seconds since the Unix epoch (UTC), so that hours and
-- days are whole-number arithmetic that reads alike on both backends.
-- No foreign keys: the rows are written behind, in batches, and one row of
-- a vanished organization must not fail a batch.
CREATE TABLE IF NOT EXISTS verification_counts (
    organization_id TEXT NOT NULL,
    api_key_id TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    minute BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (organization_id, api_key_id, identity_id, outcome, minute)
);
CREATE INDEX IF NOT EXISTS verification_counts_organization_minute
    ON verification_counts (organization_id, minute);
CREATE INDEX IF NOT EXISTS verification_counts_minute
    ON verification_counts (minute);
