-- Version 2 of the contract: riders' needs, departments and who holds each case, transfers and
-- reopening, ratings per resolution, and where a case is (district and grid from its location).
-- Safe on a database in use: every new column is nullable or has a default, so the code of version 1
-- keeps working until the code of version 2 runs; existing reports are backfilled.

-- ------------------------------------------------------------------------------ where a report is
-- `district`/`grid_id` come from the location and the areas file (areas.py), `district_source` says
-- 'location', or 'member' when the location is outside every area (the reporter's district then).
-- Reports from before this migration were counted for their reporter's district: they keep it, marked
-- 'member' (re-placing them by location is an operator's decision, not a migration's).
ALTER TABLE reports ADD COLUMN district text;
ALTER TABLE reports ADD COLUMN grid_id text;
ALTER TABLE reports ADD COLUMN district_source text NOT NULL DEFAULT 'member'
    CONSTRAINT reports_district_source CHECK (district_source IN ('location', 'member'));
UPDATE reports r SET district = m.district FROM members m WHERE m.member_id = r.member_id;

-- ------------------------------------------------------------------------------ who holds a case
-- `department` is the label the last status named (as sent); `held_by` is the department holding the
-- case: a registered department's id when the label is its id or its name, else the label itself
-- (an unregistered department). History rows keep both as they were after each step, so a transfer
-- chain and every KPI can be read from the history alone.
ALTER TABLE reports ADD COLUMN held_by text;
UPDATE reports SET held_by = department WHERE department IS NOT NULL;
ALTER TABLE reports ADD COLUMN reopened_count integer NOT NULL DEFAULT 0 CHECK (reopened_count >= 0);

ALTER TABLE report_status_history ADD COLUMN held_by text;
UPDATE report_status_history h SET held_by = (
    SELECT p.department FROM report_status_history p
    WHERE p.report_id = h.report_id AND p.id <= h.id AND p.department IS NOT NULL
    ORDER BY p.id DESC LIMIT 1
);

-- ------------------------------------------------------------------------------ needs
-- A rider's own need (小哥点单): the same loop as a report, with its own categories and rejection
-- reasons, an optional location, no photos, no duplicate detection, and no points but the rating's.
CREATE TABLE needs (
    need_id         text        PRIMARY KEY,
    member_id       text        NOT NULL,
    category        text        NOT NULL,
    description     text        NOT NULL,
    lat             double precision,
    lon             double precision,
    address         text,
    status          text        NOT NULL DEFAULT 'submitted',
    rejection_reason text,
    department      text,
    held_by         text,
    district        text,
    grid_id         text,
    district_source text        NOT NULL DEFAULT 'member' CHECK (district_source IN ('location', 'member')),
    submitted_at    timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    overdue_at      timestamptz,
    reopened_count  integer     NOT NULL DEFAULT 0 CHECK (reopened_count >= 0),
    rating          smallint,
    rated_at        timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((lat IS NULL) = (lon IS NULL))
);

CREATE TABLE need_status_history (
    id           bigserial   PRIMARY KEY,
    need_id      text        NOT NULL REFERENCES needs (need_id),
    status       text        NOT NULL,
    reason       text,
    department   text,
    held_by      text,
    note         text,
    changed_at   timestamptz NOT NULL,
    event_source text        NOT NULL,
    event_id     text        NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX need_status_history_need ON need_status_history (need_id, id);

-- ------------------------------------------------------------------------------ ratings
-- Every rating kept: one per resolution (`round` = how many times the case had been reopened when it
-- was rated). Only the first rating of a case earns the point (lifecycle.rate); a rating after a
-- reopening counts for the department that resolved it again. `department` is the department holding
-- the case when it was rated (the one whose work is rated). Reports' `rating`/`rated_at` columns stay
-- as the latest rating.
CREATE TABLE case_ratings (
    kind         text        NOT NULL CHECK (kind IN ('report', 'need')),
    case_id      text        NOT NULL,
    round        integer     NOT NULL CHECK (round >= 0),
    rating       smallint    NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment      text        NOT NULL DEFAULT '',
    department   text,
    earns_point  boolean     NOT NULL,
    rated_at     timestamptz NOT NULL,
    event_source text        NOT NULL,
    event_id     text        NOT NULL,
    PRIMARY KEY (kind, case_id, round)
);
-- At most one rating of a case earns the point, whatever a bug upstream tries.
CREATE UNIQUE INDEX case_ratings_one_point ON case_ratings (kind, case_id) WHERE earns_point;
CREATE INDEX case_ratings_window ON case_ratings (rated_at);
INSERT INTO case_ratings (kind, case_id, round, rating, department, earns_point, rated_at, event_source, event_id)
SELECT 'report', report_id, 0, rating, held_by, true, rated_at, 'migration/0003', 'rating:' || report_id
FROM reports WHERE rating IS NOT NULL AND rated_at IS NOT NULL;

-- ------------------------------------------------------------------------------ departments
-- The registry (incentives.directory.v1, or an operator over HTTP). `as_of` is the time of the last
-- applied change, so a stale registry event delivered late never rolls a department back.
CREATE TABLE departments (
    department_id text        PRIMARY KEY,
    name          text        NOT NULL,
    districts     text[]      NOT NULL DEFAULT '{}',
    origin        text        NOT NULL CHECK (origin IN ('directory', 'operator')),
    as_of         timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX departments_name ON departments (name);

-- ------------------------------------------------------------------------------ filters and KPI windows
-- Operator lists: newest first within a district, a grid, a department; open cases by due date
-- (overdue); a bounding box over point(lon, lat) (GiST: `point(lon, lat) <@ box(...)`).
CREATE INDEX reports_district ON reports (district, submitted_at DESC, report_id DESC);
CREATE INDEX reports_grid ON reports (grid_id, submitted_at DESC, report_id DESC) WHERE grid_id IS NOT NULL;
CREATE INDEX reports_held_by ON reports (held_by, submitted_at DESC, report_id DESC) WHERE held_by IS NOT NULL;
CREATE INDEX reports_open_by_due ON reports (due_at) WHERE status NOT IN ('resolved', 'rejected');
CREATE INDEX reports_location ON reports USING gist (point(lon, lat));

CREATE INDEX needs_member ON needs (member_id, submitted_at DESC, need_id DESC);
CREATE INDEX needs_status ON needs (status, submitted_at DESC, need_id DESC);
CREATE INDEX needs_district ON needs (district, submitted_at DESC, need_id DESC);
CREATE INDEX needs_grid ON needs (grid_id, submitted_at DESC, need_id DESC) WHERE grid_id IS NOT NULL;
CREATE INDEX needs_held_by ON needs (held_by, submitted_at DESC, need_id DESC) WHERE held_by IS NOT NULL;
CREATE INDEX needs_open_by_due ON needs (due_at) WHERE status NOT IN ('resolved', 'rejected');
CREATE INDEX needs_open_due ON needs (due_at) WHERE status NOT IN ('resolved', 'rejected') AND overdue_at IS NULL;
CREATE INDEX needs_location ON needs USING gist (point(lon, lat)) WHERE lat IS NOT NULL;

-- KPIs over a window: steps and ratings by their business time.
CREATE INDEX report_status_history_changed ON report_status_history (changed_at);
CREATE INDEX need_status_history_changed ON need_status_history (changed_at);
