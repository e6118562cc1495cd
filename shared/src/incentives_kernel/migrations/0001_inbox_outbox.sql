-- The inbox: one row per event this service has handled, whatever the outcome.
-- (consumer, source, event_id) is the CloudEvent identity, so the same event on any topic, any
-- number of times, has its effect once. Rows that could not be parsed are keyed by their position
-- (source 'kafka:<topic>', event_id '<partition>/<offset>').
CREATE TABLE inbox (
    consumer      text        NOT NULL,
    source        text        NOT NULL,
    event_id      text        NOT NULL,
    event_type    text,
    topic         text        NOT NULL,
    kafka_partition integer   NOT NULL,
    kafka_offset  bigint      NOT NULL,
    outcome       text        NOT NULL DEFAULT 'applied'
                  CHECK (outcome IN ('applied', 'ignored', 'parked', 'dead_lettered')),
    reason        text,
    handled_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, source, event_id)
);
CREATE INDEX inbox_position ON inbox (topic, kafka_partition, kafka_offset);

-- The outbox: what this service publishes, written in the same transaction as the state change it
-- reports. The relay publishes unpublished rows in id order and marks them; rows are purged after
-- a retention period. (topic, event_id) is unique so a repeated enqueue is a no-op.
CREATE TABLE outbox (
    id            bigserial   PRIMARY KEY,
    event_id      text        NOT NULL,
    topic         text        NOT NULL,
    key           bytea,
    value         bytea       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    UNIQUE (topic, event_id)
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;
