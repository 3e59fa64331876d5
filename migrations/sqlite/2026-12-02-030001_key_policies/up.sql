-- Each organization's key safety settings: what a leak report does to a
-- reported key (`disable` or `revoke`), and the lifetime policy for its API
-- keys. An organization without a row has the defaults (`disable`, no
-- limit, expiry optional). Audit events gain `detail`: for a leak report,
-- the URL where the key was found.
CREATE TABLE key_policies (
    organization_id TEXT PRIMARY KEY NOT NULL REFERENCES organizations (id),
    leak_response TEXT NOT NULL,
    max_key_lifetime_seconds BIGINT,
    require_expiry BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
ALTER TABLE audit_events ADD COLUMN detail TEXT;
