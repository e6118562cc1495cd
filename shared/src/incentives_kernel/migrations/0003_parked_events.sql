-- Events that arrived before what they depend on (a status before its report, points for a member
-- not yet registered): kept with their bytes and position, applied when `awaiting` arrives, or
-- dead-lettered with their reason once the grace period is over.
CREATE TABLE parked_events (
    consumer        text        NOT NULL,
    source          text        NOT NULL,
    event_id        text        NOT NULL,
    awaiting        text        NOT NULL,
    reason          text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    key             bytea,
    value           bytea       NOT NULL,
    parked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, source, event_id)
);
CREATE INDEX parked_events_awaiting ON parked_events (awaiting, parked_at);
CREATE INDEX parked_events_age ON parked_events (parked_at);
