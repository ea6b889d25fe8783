-- Silences made at run time (POST /api/v1/silences), shared by every ragwatch on the store;
-- components is a JSON array of component keys, empty for all.
CREATE TABLE silences (
    id INTEGER PRIMARY KEY,
    components TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    until_ms INTEGER NOT NULL,
    comment TEXT NOT NULL
);
CREATE INDEX silences_by_until ON silences (until_ms);
-- Why an incident's notifications waited: 'maintenance' or 'silence'; NULL when none did.
ALTER TABLE incidents ADD COLUMN quiet TEXT;
