DROP TABLE secret_versions;
ALTER TABLE secrets DROP COLUMN version;
