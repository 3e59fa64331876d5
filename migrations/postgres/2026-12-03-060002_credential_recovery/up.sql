-- Deleted provider credentials are kept for the recovery window
-- (KEYGATE_RECOVERY_WINDOW_DAYS), as deleted API keys and secrets are:
-- `deleted_at` marks them; they are gone for every operation but a list
-- with include_deleted and undelete, and purged after the window.
ALTER TABLE provider_credentials ADD COLUMN deleted_at TIMESTAMP;
CREATE INDEX provider_credentials_deleted_at ON provider_credentials (deleted_at);
