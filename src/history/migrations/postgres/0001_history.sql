-- Probe results, their per-minute and per-hour roll-ups, status changes and incidents.
-- Times are unix milliseconds; statuses are 'green', 'yellow', 'red'.
CREATE TABLE results (
    id BIGSERIAL PRIMARY KEY,
    observer TEXT NOT NULL,
    component TEXT NOT NULL,
    checked_at_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    elapsed_ms DOUBLE PRECISION NOT NULL,
    error TEXT
);
CREATE INDEX results_by_component ON results (component, checked_at_ms);
CREATE INDEX results_by_time ON results (checked_at_ms);

-- One row per component, resolution (60 or 3600 s) and bucket start. Latency is kept as
-- a histogram (le_* counts, cumulative upper bounds in ms) so roll-ups of several writers
-- and batches add up exactly and percentiles can be read from any span.
CREATE TABLE rollups (
    component TEXT NOT NULL,
    resolution_s BIGINT NOT NULL,
    bucket_ms BIGINT NOT NULL,
    green BIGINT NOT NULL,
    yellow BIGINT NOT NULL,
    red BIGINT NOT NULL,
    latency_sum_ms DOUBLE PRECISION NOT NULL,
    latency_max_ms DOUBLE PRECISION NOT NULL,
    le_1 BIGINT NOT NULL, le_5 BIGINT NOT NULL, le_10 BIGINT NOT NULL,
    le_25 BIGINT NOT NULL, le_50 BIGINT NOT NULL, le_100 BIGINT NOT NULL,
    le_250 BIGINT NOT NULL, le_500 BIGINT NOT NULL, le_1000 BIGINT NOT NULL,
    le_2500 BIGINT NOT NULL, le_5000 BIGINT NOT NULL, le_inf BIGINT NOT NULL,
    PRIMARY KEY (component, resolution_s, bucket_ms)
);

CREATE TABLE status_changes (
    id BIGSERIAL PRIMARY KEY,
    observer TEXT NOT NULL,
    component TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    from_status TEXT,
    to_status TEXT NOT NULL,
    error TEXT
);
CREATE INDEX status_changes_by_component ON status_changes (component, at_ms);

-- An incident is a stretch of time a component was not green, as one observer saw it.
CREATE TABLE incidents (
    id BIGSERIAL PRIMARY KEY,
    observer TEXT NOT NULL,
    component TEXT NOT NULL,
    from_status TEXT NOT NULL,
    worst_status TEXT NOT NULL,
    last_status TEXT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT,
    first_error TEXT,
    changes BIGINT NOT NULL
);
CREATE INDEX incidents_by_start ON incidents (started_at_ms);
CREATE INDEX incidents_open ON incidents (observer, component, ended_at_ms);
