-- Organizations, API keys, the secrets that authenticate as them, and the audit trail.
CREATE TABLE organizations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    is_root BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    api_key_role TEXT NOT NULL,
    api_policy TEXT,
    enabled BOOLEAN NOT NULL,
    allowed_cidrs TEXT,
    expires_at TIMESTAMP,
    key_prefix TEXT NOT NULL,
    key_last4 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX api_keys_organization_id ON api_keys (organization_id, id);

-- One row per usable secret: the current one and any pending after rotation.
-- Only the SHA-256 of the key is kept.
CREATE TABLE key_secrets (
    key_hash TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    owner_kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    key_last4 TEXT NOT NULL,
    state TEXT NOT NULL,
    pending_expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX key_secrets_owner ON key_secrets (owner_kind, owner_id);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    organization_id TEXT,
    actor_key_id TEXT,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT,
    request_id TEXT NOT NULL,
    outcome TEXT NOT NULL
);
CREATE INDEX audit_events_organization_id ON audit_events (organization_id, id);
CREATE INDEX audit_events_resource ON audit_events (resource_type, resource_id);
