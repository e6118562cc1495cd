-- Duplicate detection without scanning every open report: each report sits in a grid cell of about
-- 0.001 degree (~111 m north-south, ~95 m east-west at Shanghai's latitude); a new report looks only
-- in its own and the eight neighbouring cells, same category, submitted in the previous 24 hours.
ALTER TABLE reports ADD COLUMN cell_lat integer;
ALTER TABLE reports ADD COLUMN cell_lon integer;
UPDATE reports SET cell_lat = floor(lat * 1000)::int, cell_lon = floor(lon * 1000)::int;
ALTER TABLE reports ALTER COLUMN cell_lat SET NOT NULL;
ALTER TABLE reports ALTER COLUMN cell_lon SET NOT NULL;
CREATE INDEX reports_open_cells ON reports (category, cell_lat, cell_lon, submitted_at)
    WHERE status NOT IN ('resolved', 'rejected');

-- A photo whose hash was already used in another report: suspected re-use, does not earn.
ALTER TABLE reports ADD COLUMN photo_reused_from text REFERENCES reports (report_id);
CREATE TABLE report_photos (
    sha256      text    NOT NULL,
    report_id   text    NOT NULL REFERENCES reports (report_id),
    PRIMARY KEY (sha256, report_id)
);

-- SLA and what points said the report earned (from points' own events).
ALTER TABLE reports ADD COLUMN due_at timestamptz;
UPDATE reports SET due_at = submitted_at + interval '7 days';
ALTER TABLE reports ALTER COLUMN due_at SET NOT NULL;
ALTER TABLE reports ADD COLUMN overdue_at timestamptz;
ALTER TABLE reports ADD COLUMN points_earned integer NOT NULL DEFAULT 0;
CREATE INDEX reports_open_due ON reports (due_at) WHERE status NOT IN ('resolved', 'rejected') AND overdue_at IS NULL;
