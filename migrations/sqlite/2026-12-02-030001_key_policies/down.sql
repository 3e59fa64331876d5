ALTER TABLE audit_events DROP COLUMN detail;
DROP TABLE key_policies;
