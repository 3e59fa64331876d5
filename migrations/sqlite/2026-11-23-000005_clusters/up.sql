-- Connected clusters (Elastic Cloud Connect family) and each organization's
-- subscription state and terms-and-conditions acceptance. Cluster and
-- cluster service keys live in key_secrets (owner kinds `cluster` and
-- `cluster_service`).
CREATE TABLE clusters (
    id TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    self_managed_cluster_id TEXT NOT NULL,
    self_managed_cluster_name TEXT NOT NULL,
    self_managed_cluster_version TEXT NOT NULL,
    license_type TEXT,
    license_uid TEXT,
    eis_enabled BOOLEAN NOT NULL,
    auto_ops_enabled BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (organization_id, self_managed_cluster_id)
);
CREATE INDEX clusters_organization_id ON clusters (organization_id, id);

CREATE TABLE organization_settings (
    organization_id TEXT PRIMARY KEY NOT NULL REFERENCES organizations (id),
    subscription_state TEXT NOT NULL,
    subscription_updated_at TIMESTAMP NOT NULL,
    terms_accepted_at TIMESTAMP,
    terms_accepted_by TEXT
);
