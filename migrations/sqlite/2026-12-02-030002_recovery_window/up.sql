-- Deleted API keys are kept for the recovery window
-- (KEYGATE_RECOVERY_WINDOW_DAYS): `deleted_at` marks them; they are gone for
-- every operation but a list with include_deleted and undelete, and purged
-- after the window.
ALTER TABLE api_keys ADD COLUMN deleted_at TIMESTAMP;
CREATE INDEX api_keys_deleted_at ON api_keys (deleted_at);
