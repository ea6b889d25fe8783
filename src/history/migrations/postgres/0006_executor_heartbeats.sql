-- The heartbeats of every remembered task executor's window, as written, so after
-- ragwatch restarts a dead executor still shows what it did and what it was running.
-- The writer keeps at most 120 per executor, within 30 minutes of its newest.
CREATE TABLE executor_heartbeats (
    observer TEXT NOT NULL,
    executor TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    heartbeat TEXT NOT NULL,
    PRIMARY KEY (observer, executor, at_ms)
);
