DROP TABLE audit_events;
DROP TABLE key_secrets;
DROP TABLE api_keys;
DROP TABLE organizations;
