DROP INDEX IF EXISTS verification_counts_minute;
DROP INDEX IF EXISTS verification_counts_organization_minute;
DROP TABLE IF EXISTS verification_counts;
