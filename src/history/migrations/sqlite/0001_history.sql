-- Probe results, their per-minute and per-hour roll-ups, status changes and incidents.
-- Times are unix milliseconds; statuses are 'green', 'yellow', 'red'.
CREATE TABLE results (
    id INTEGER PRIMARY KEY,
    observer TEXT NOT NULL,
    component TEXT NOT NULL,
    checked_at_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    elapsed_ms REAL NOT NULL,
    error TEXT
);
CREATE INDEX results_by_component ON results (component, checked_at_ms);
CREATE INDEX results_by_time ON results (checked_at_ms);

-- One row per component, resolution (60 or 3600 s) and bucket start. Latency is kept as
-- a histogram (le_* counts, cumulative upper bounds in ms) so roll-ups of several writers
-- and batches add up exactly and percentiles can be read from any span.
CREATE TABLE rollups (
    component TEXT NOT NULL,
    resolution_s INTEGER NOT NULL,
    bucket_ms INTEGER NOT NULL,
    green INTEGER NOT NULL,
    yellow INTEGER NOT NULL,
    red INTEGER NOT NULL,
    latency_sum_ms REAL NOT NULL,
    latency_max_ms REAL NOT NULL,
    le_1 INTEGER NOT NULL, le_5 INTEGER NOT NULL, le_10 INTEGER NOT NULL,
    le_25 INTEGER NOT NULL, le_50 INTEGER NOT NULL, le_100 INTEGER NOT NULL,
    le_250 INTEGER NOT NULL, le_500 INTEGER NOT NULL, le_1000 INTEGER NOT NULL,
    le_2500 INTEGER NOT NULL, le_5000 INTEGER NOT NULL, le_inf INTEGER NOT NULL,
    PRIMARY KEY (component, resolution_s, bucket_ms)
);

CREATE TABLE status_changes (
    id INTEGER PRIMARY KEY,
    observer TEXT NOT NULL,
    component TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    error TEXT
);
CREATE INDEX status_changes_by_component ON status_changes (component, at_ms);

-- An incident is a stretch of time a component was not green, as one observer saw it.
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY,
    observer TEXT NOT NULL,
    component TEXT NOT NULL,
    from_status TEXT NOT NULL,
    worst_status TEXT NOT NULL,
    last_status TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms INTEGER,
    first_error TEXT,
    changes INTEGER NOT NULL
);
CREATE INDEX incidents_by_start ON incidents (started_at_ms);
CREATE INDEX incidents_open ON incidents (observer, component, ended_at_ms);
