DROP INDEX secrets_deleted_at;
ALTER TABLE secrets DROP COLUMN deleted_at;
