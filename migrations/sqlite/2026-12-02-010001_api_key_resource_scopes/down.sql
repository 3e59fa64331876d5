ALTER TABLE api_keys DROP COLUMN resource_scopes;
