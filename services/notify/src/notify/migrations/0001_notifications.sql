-- One notification per (event, member, channel): notification_id is derived from them, and the
-- primary key makes a redelivered event a no-op.
CREATE TABLE notifications (
    notification_id text        PRIMARY KEY,
    member_id       text        NOT NULL,
    channel         text        NOT NULL DEFAULT 'inbox',
    kind            text        NOT NULL,
    locale          text        NOT NULL,
    title           text        NOT NULL,
    body            text        NOT NULL,
    source_event    text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    seq             bigserial   NOT NULL UNIQUE,
    read_at         timestamptz
);
CREATE INDEX notifications_member ON notifications (member_id, seq DESC);
CREATE INDEX notifications_unread ON notifications (member_id, seq DESC) WHERE read_at IS NULL;
