-- Deleted secrets are kept for the recovery window
-- (KEYGATE_RECOVERY_WINDOW_DAYS), as deleted API keys are: `deleted_at`
-- marks them; they are gone for every operation but a list with
-- include_deleted and undelete, and purged after the window.
ALTER TABLE secrets ADD COLUMN deleted_at TIMESTAMP;
CREATE INDEX secrets_deleted_at ON secrets (deleted_at);
