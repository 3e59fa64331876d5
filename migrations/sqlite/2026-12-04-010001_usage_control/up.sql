-- Usage control (issue 19). Identities group keys under a customer's own id
-- (external_id, unique per organization); an API key belongs to at most one.
-- Rate limits are configuration and live on their owner (a JSON array);
-- credit balances are counters and live in `credits`, one row per owner
-- (an `aky_` key or an `idn_` identity; no row: unlimited), so one ledger
-- serves both. `epoch` grows with every absolute change (a set, a PATCH of
-- the credits), which voids what nodes leased before it.
CREATE TABLE identities (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    external_id TEXT NOT NULL,
    name TEXT,
    metadata TEXT,
    ratelimits TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (organization_id, external_id)
);
ALTER TABLE api_keys ADD COLUMN identity_id TEXT REFERENCES identities (id);
ALTER TABLE api_keys ADD COLUMN ratelimits TEXT;
CREATE INDEX api_keys_identity_id ON api_keys (identity_id);
CREATE TABLE credits (
    owner_id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    remaining BIGINT NOT NULL,
    refill_interval BIGINT,
    refill_amount BIGINT,
    refilled_at TIMESTAMP NOT NULL,
    epoch BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
