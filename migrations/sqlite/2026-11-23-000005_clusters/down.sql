DELETE FROM key_secrets WHERE owner_kind IN ('cluster', 'cluster_service');
DROP TABLE organization_settings;
DROP TABLE clusters;
