DROP TABLE credits;
DROP INDEX api_keys_identity_id;
ALTER TABLE api_keys DROP COLUMN ratelimits;
ALTER TABLE api_keys DROP COLUMN identity_id;
DROP TABLE identities;
