-- Opaque per-key resource scopes (the Vectara dialect's `corpus_keys`): a
-- JSON array of names a data plane may enforce, reported by get and verify.
-- NULL: the key is not scoped.
ALTER TABLE api_keys ADD COLUMN resource_scopes TEXT;
