-- Every task executor an observer has seen, with its newest heartbeat as written, so one
-- that vanished from Redis is still listed (as dead) after ragwatch restarts.
CREATE TABLE executors (
    observer TEXT NOT NULL,
    name TEXT NOT NULL,
    last_at_ms BIGINT NOT NULL,
    heartbeat TEXT NOT NULL,
    PRIMARY KEY (observer, name)
);
