DROP TABLE connectors;
DROP TABLE secrets;
DROP TABLE encryption_keys;
