-- Dead letters this service wrote, kept where operators can list and replay them without reading
-- Kafka: every outbox row for a `.dlq` topic is copied here by a trigger, in the transaction that
-- dead-lettered the record (with its inbox outcome), so the list is exactly the service's DLQ
-- publisher's output. The outbox purges its rows after publication; this table keeps them until an
-- operator's retention job (not yet: see docs/operations.md) or by hand. The value is the record as
-- it came (personal data included, like the DLQ itself); the API masks it on the way out.
CREATE TABLE dead_letters (
    dead_letter_id  bigserial   PRIMARY KEY,
    outbox_id       bigint      NOT NULL UNIQUE,
    dlq_topic       text        NOT NULL,
    topic           text        NOT NULL,
    reason          text        NOT NULL,
    error_class     text        NOT NULL,
    message         text        NOT NULL,
    service         text        NOT NULL,
    key             bytea,
    value           bytea       NOT NULL,
    headers         jsonb       NOT NULL,
    dead_lettered_at timestamptz NOT NULL,
    replay_count    integer     NOT NULL DEFAULT 0,
    replayed_at     timestamptz,
    replayed_by     text
);
CREATE INDEX dead_letters_topic ON dead_letters (topic, dead_letter_id);
CREATE INDEX dead_letters_reason ON dead_letters (topic, reason, dead_letter_id);

-- A dead letter's header, as the outbox stores headers: [name, base64 value, "b64"] (older rows: text).
CREATE FUNCTION dead_letter_header(headers jsonb, name text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN h->>2 = 'b64' THEN convert_from(decode(h->>1, 'base64'), 'UTF8') ELSE h->>1 END
    FROM jsonb_array_elements(headers) AS h WHERE h->>0 = name LIMIT 1
$$;

CREATE FUNCTION keep_dead_letter() RETURNS trigger
    LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO dead_letters (outbox_id, dlq_topic, topic, reason, error_class, message, service, key, value,
                              headers, dead_lettered_at)
    VALUES (NEW.id, NEW.topic,
            coalesce(dead_letter_header(NEW.headers, 'original.topic'), left(NEW.topic, -4)),
            coalesce(dead_letter_header(NEW.headers, 'error.reason'), 'unknown'),
            coalesce(dead_letter_header(NEW.headers, 'error.class'), ''),
            coalesce(dead_letter_header(NEW.headers, 'error.message'), ''),
            coalesce(dead_letter_header(NEW.headers, 'error.service'), ''),
            NEW.key, NEW.value, NEW.headers, NEW.created_at)
    ON CONFLICT (outbox_id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_keeps_dead_letters AFTER INSERT ON outbox
    FOR EACH ROW WHEN (NEW.topic LIKE '%.dlq') EXECUTE FUNCTION keep_dead_letter();

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
