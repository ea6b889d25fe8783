-- An incident opened by the first result after start came from a status nobody knows:
-- its from_status is NULL. SQLite cannot drop a NOT NULL, so the table is rebuilt.
CREATE TABLE incidents_new (
    id INTEGER PRIMARY KEY,
    observer TEXT NOT NULL,
    component TEXT NOT NULL,
    from_status TEXT,
    worst_status TEXT NOT NULL,
    last_status TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms INTEGER,
    first_error TEXT,
    changes INTEGER NOT NULL
);
INSERT INTO incidents_new (id, observer, component, from_status, worst_status, last_status, started_at_ms, ended_at_ms, first_error, changes)
    SELECT id, observer, component, from_status, worst_status, last_status, started_at_ms, ended_at_ms, first_error, changes FROM incidents;
DROP TABLE incidents;
ALTER TABLE incidents_new RENAME TO incidents;
CREATE INDEX incidents_by_start ON incidents (started_at_ms);
CREATE INDEX incidents_open ON incidents (observer, component, ended_at_ms);
