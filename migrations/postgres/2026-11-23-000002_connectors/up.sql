-- Connector secrets (values AES-256-GCM encrypted), connectors, and the
-- master key ids that encrypted this database.
CREATE TABLE encryption_keys (
    key_id TEXT PRIMARY KEY NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE secrets (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    id TEXT NOT NULL,
    description TEXT,
    value BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, id)
);

CREATE TABLE connectors (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    id TEXT NOT NULL,
    name TEXT,
    description TEXT,
    index_name TEXT,
    service_type TEXT,
    api_key_id TEXT REFERENCES api_keys (id),
    api_key_secret_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, api_key_secret_id) REFERENCES secrets (organization_id, id)
);
CREATE INDEX connectors_api_key_id ON connectors (api_key_id);
CREATE INDEX connectors_secret ON connectors (organization_id, api_key_secret_id);
