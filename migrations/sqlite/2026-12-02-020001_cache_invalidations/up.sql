-- Cross-node cache invalidation (see the PostgreSQL migration). One SQLite
-- file has one node, so keygate never writes here; the table exists so
-- that both backends have the same tables.
CREATE TABLE cache_invalidations (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    owner_kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX cache_invalidations_created_at ON cache_invalidations (created_at);
