-- Secret versions: `secrets.version` numbers the current value; the values
-- it replaced (up to KEYGATE_SECRET_VERSIONS of them) are kept in
-- `secret_versions`, each sealed for its own row (id `<secret_id>/<version>`).
ALTER TABLE secrets ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE TABLE secret_versions (
    organization_id TEXT NOT NULL,
    id TEXT NOT NULL,
    secret_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    value BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, id),
    UNIQUE (organization_id, secret_id, version),
    FOREIGN KEY (organization_id, secret_id) REFERENCES secrets (organization_id, id)
);
