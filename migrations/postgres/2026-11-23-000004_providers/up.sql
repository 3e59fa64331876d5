-- Provider credentials (Nylas family): credential_data is an AES-256-GCM
-- envelope bound to its row and field, never plaintext. Providers exist
-- implicitly for every organization; a providers row is written the first
-- time one is changed.
CREATE TABLE provider_credentials (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    id TEXT NOT NULL,
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    credential_type TEXT NOT NULL,
    credential_data BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, id),
    UNIQUE (organization_id, provider, name),
    UNIQUE (organization_id, provider, id)
);
CREATE INDEX provider_credentials_created ON provider_credentials (organization_id, provider, created_at, id);
CREATE INDEX provider_credentials_updated ON provider_credentials (organization_id, provider, updated_at, id);

CREATE TABLE providers (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    provider TEXT NOT NULL,
    active_credential_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, provider),
    FOREIGN KEY (organization_id, provider, active_credential_id)
        REFERENCES provider_credentials (organization_id, provider, id)
);
CREATE INDEX providers_active_credential ON providers (organization_id, provider, active_credential_id);
