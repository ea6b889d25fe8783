-- Replicas sharing this history ([cluster]). Times are unix milliseconds on the database's
-- clock, so the replicas' own clocks never decide who leads.

-- The leader's lease: one row, taken or renewed by compare-and-set.
CREATE TABLE cluster_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    -- One per process: two processes given the same observer name never share a lease.
    holder_id TEXT NOT NULL,
    term BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL
);

-- When each observer last wrote: live within one lease.
CREATE TABLE cluster_observers (
    observer TEXT PRIMARY KEY,
    last_seen_ms BIGINT NOT NULL
);

-- What each observer last saw of each component: its run of results.
CREATE TABLE cluster_views (
    observer TEXT NOT NULL,
    component TEXT NOT NULL,
    status TEXT NOT NULL,
    failures BIGINT NOT NULL,
    successes BIGINT NOT NULL,
    failing_since_ms BIGINT,
    failing_from TEXT,
    first_error TEXT,
    checked_at_ms BIGINT NOT NULL,
    error TEXT,
    PRIMARY KEY (observer, component)
);

-- The alerts firing, each written by the leader of `term` before it was sent.
CREATE TABLE cluster_alerts (
    component TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    previous_status TEXT NOT NULL,
    error TEXT,
    started_at_ms BIGINT NOT NULL,
    term BIGINT NOT NULL
);
