-- Who looked a member up by phone or identity number, when, and what was found (issue 15): the
-- number itself is never stored, not even its keyed digest (the audit must not become an index).
CREATE TABLE member_lookups (
    lookup_id   bigserial PRIMARY KEY,
    looked_up_at timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('phone', 'id_number')),
    member_ids  text[] NOT NULL
);
CREATE INDEX member_lookups_actor ON member_lookups (actor, lookup_id);
