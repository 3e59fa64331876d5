DROP INDEX provider_credentials_deleted_at;
ALTER TABLE provider_credentials DROP COLUMN deleted_at;
