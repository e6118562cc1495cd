-- Dead letters this service wrote, kept where operators can list and replay them without reading
-- Kafka: the engine writes a row here beside the outbox row for the `.dlq` topic, in the transaction
-- that dead-lettered the record (with its inbox outcome), so the list is exactly what the service's
-- DLQ publisher wrote. (Written by the engine, not by a trigger on the outbox: a row trigger cost
-- ~2 us on every outbox row, dead letter or not.) The outbox purges its rows after publication; this
-- table keeps them for the dead-letter retention (the purge_dead_letters job). The value is the record as it came
-- (personal data included, like the DLQ itself); the API masks it on the way out.
CREATE TABLE dead_letters (
    dead_letter_id  bigserial   PRIMARY KEY,
    event_id        text        NOT NULL UNIQUE, -- the DLQ record's id (its outbox row's): one row per dead letter
    dlq_topic       text        NOT NULL,
    topic           text        NOT NULL,
    reason          text        NOT NULL,
    error_class     text        NOT NULL,
    message         text        NOT NULL,
    service         text        NOT NULL,
    key             bytea,
    value           bytea       NOT NULL,
    headers         jsonb       NOT NULL,
    dead_lettered_at timestamptz NOT NULL DEFAULT now(),
    replay_count    integer     NOT NULL DEFAULT 0,
    replayed_at     timestamptz,
    replayed_by     text
);
CREATE INDEX dead_letters_topic ON dead_letters (topic, dead_letter_id);
CREATE INDEX dead_letters_reason ON dead_letters (topic, reason, dead_letter_id);

-- What operators did through the operator APIs (dead letters replayed, parked events released or
-- dead-lettered): who and when, for the audit.
CREATE TABLE operator_actions (
    action_id   bigserial   PRIMARY KEY,
    acted_at    timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    action      text        NOT NULL,
    target      text        NOT NULL,
    detail      text        NOT NULL DEFAULT ''
);
