-- An incident opened by the first result after start came from a status nobody knows:
-- its from_status is NULL.
ALTER TABLE incidents ALTER COLUMN from_status DROP NOT NULL;
