-- Cross-node cache invalidation: every committed change to a key that a
-- node's authentication cache may hold writes a row here in the same
-- transaction (with a NOTIFY on `keygate_invalidation` as a wake-up); every
-- node reads the rows past its cursor and drops those owners' entries. Old
-- rows are pruned (see docs/OPERATIONS.md, "Running several nodes").
CREATE TABLE cache_invalidations (
    id BIGSERIAL PRIMARY KEY NOT NULL,
    owner_kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX cache_invalidations_created_at ON cache_invalidations (created_at);
