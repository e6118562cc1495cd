-- Who changed a department, and when (issue 21: every operator action recorded with who and when by
-- the owning service). `departments.updated_by` is who made the change in force (`updated_at` says
-- when): `operator:<name>` (a named operator token) or `operator:<token fingerprint>` for an
-- operator's PUT, the registry event's CloudEvent `source` for `department.registered` / `.updated`.
-- Nullable: rows written before this migration keep no actor (unknown, not invented).
ALTER TABLE departments ADD COLUMN updated_by text;

-- Every applied change, kept: a later change (an operator's, or the registry's) overwrites the row
-- above, not this record of who did what before. A change that was not applied (older than the one
-- in force) is not a change and is not kept.
CREATE TABLE department_changes (
    change_id     bigserial   PRIMARY KEY,
    department_id text        NOT NULL REFERENCES departments (department_id),
    name          text        NOT NULL,
    districts     text[]      NOT NULL,
    origin        text        NOT NULL CHECK (origin IN ('directory', 'operator')),
    changed_by    text        NOT NULL,
    as_of         timestamptz NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX department_changes_department ON department_changes (department_id, change_id);
