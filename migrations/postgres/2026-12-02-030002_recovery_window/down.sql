DROP INDEX api_keys_deleted_at;
ALTER TABLE api_keys DROP COLUMN deleted_at;
