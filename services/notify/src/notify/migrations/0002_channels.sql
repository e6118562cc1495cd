-- The cause's event type: webhooks subscribe by it, and an operator can see what caused a notification.
ALTER TABLE notifications ADD COLUMN cause_type text;

-- Per-member preferences for the push topic and webhooks (the inbox always gets everything).
CREATE TABLE member_preferences (
    member_id   text        PRIMARY KEY,
    muted_kinds text[]      NOT NULL DEFAULT '{}',
    quiet_start time,
    quiet_end   time,
    timezone    text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL)),
    CHECK (quiet_start IS NULL OR quiet_start <> quiet_end)
);

-- Push notifications held back by quiet hours, moved to the outbox when due (then deleted: the outbox
-- row is the record). Keyed by the push channel's notification id, so a cause defers at most one.
CREATE TABLE deferred_pushes (
    notification_id text        PRIMARY KEY,
    member_id       text        NOT NULL,
    data            jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    due_at          timestamptz NOT NULL
);
CREATE INDEX deferred_pushes_due ON deferred_pushes (due_at);

-- Operator-registered endpoints. The secret is kept because every request is signed with it; it is
-- never returned by the API nor logged. The breaker state lives here so that every replica sees it.
CREATE TABLE webhooks (
    webhook_id           text        PRIMARY KEY,
    url                  text        NOT NULL,
    event_types          text[]      NOT NULL,
    secret               text        NOT NULL,
    active               boolean     NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    disabled_at          timestamptz,
    consecutive_failures integer     NOT NULL DEFAULT 0,
    circuit_open_until   timestamptz,
    probe_until          timestamptz -- a half-open probe is in flight until then
);

-- The outbox for HTTP: one row per (webhook notification, endpoint), written in the transaction that
-- stores the notification, sent by the delivery worker under a lease (lease_token, lease_until).
CREATE TABLE webhook_deliveries (
    delivery_id      text        PRIMARY KEY,
    notification_id  text        NOT NULL,
    webhook_id       text        NOT NULL REFERENCES webhooks (webhook_id),
    member_id        text        NOT NULL,
    kind             text        NOT NULL,
    event_type       text        NOT NULL,
    body             bytea       NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'delivered', 'dead_lettered', 'cancelled')),
    attempts         integer     NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    next_attempt_at  timestamptz NOT NULL,
    lease_token      uuid,
    lease_until      timestamptz,
    last_status      integer,
    last_error       text,
    delivered_at     timestamptz,
    dead_lettered_at timestamptz,
    redriven         integer     NOT NULL DEFAULT 0,
    seq              bigserial   NOT NULL UNIQUE,
    UNIQUE (notification_id, webhook_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (webhook_id, seq DESC) WHERE status = 'dead_lettered';
