-- Projects and API proxies (Apinizer family), and the keyed hashes that keep
-- proxy keys unique in an organization.
CREATE TABLE projects (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    description TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (organization_id, name)
);

CREATE TABLE api_proxies (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    project_id TEXT NOT NULL REFERENCES projects (id),
    name TEXT NOT NULL,
    description TEXT,
    upstream_url TEXT,
    -- Shown in the view, so stored as given.
    public_key TEXT,
    -- AES-256-GCM envelope bound to (api_proxies, organization, id, secret_key).
    secret_key BLOB,
    secret_key_last4 TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (project_id, name)
);
CREATE INDEX api_proxies_organization ON api_proxies (organization_id, id);

-- One row per key a proxy holds (kind 'public' or 'secret'): the keyed
-- HMAC-SHA256 of the key. The primary key makes every key, public or secret,
-- unique in its organization.
CREATE TABLE api_proxy_keys (
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    key_hash TEXT NOT NULL,
    api_proxy_id TEXT NOT NULL REFERENCES api_proxies (id),
    kind TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, key_hash),
    UNIQUE (api_proxy_id, kind)
);
