CREATE TABLE reports (
    report_id     text        PRIMARY KEY,
    member_id     text        NOT NULL,
    category      text        NOT NULL,
    description   text        NOT NULL DEFAULT '',
    lat           double precision NOT NULL,
    lon           double precision NOT NULL,
    address       text,
    photos        jsonb       NOT NULL DEFAULT '[]'::jsonb,
    status        text        NOT NULL DEFAULT 'submitted',
    rejection_reason text,
    department    text,
    duplicate_of  text        REFERENCES reports (report_id),
    submitted_at  timestamptz NOT NULL,
    verified_at   timestamptz,
    reversed_at   timestamptz,
    rating        smallint,
    rated_at      timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reports_member ON reports (member_id, submitted_at DESC, report_id DESC);
CREATE INDEX reports_status ON reports (status, submitted_at DESC, report_id DESC);

-- Append-only history: every status a report took, with who changed it and why.
CREATE TABLE report_status_history (
    id          bigserial   PRIMARY KEY,
    report_id   text        NOT NULL REFERENCES reports (report_id),
    status      text        NOT NULL,
    reason      text,
    department  text,
    note        text,
    changed_at  timestamptz NOT NULL,
    event_source text       NOT NULL,
    event_id    text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_status_history_report ON report_status_history (report_id, id);
