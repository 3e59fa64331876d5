DROP TABLE providers;
DROP TABLE provider_credentials;
