CREATE TABLE rewards (
    reward_id        text        PRIMARY KEY,
    name             text        NOT NULL,
    description      text        NOT NULL DEFAULT '',
    kind             text        NOT NULL CHECK (kind IN ('instant', 'allocation')),
    cost_points      integer     NOT NULL CHECK (cost_points > 0),
    min_star_level   smallint    NOT NULL DEFAULT 0 CHECK (min_star_level BETWEEN 0 AND 5),
    per_member_limit integer     CHECK (per_member_limit > 0),
    districts        text[]      NOT NULL DEFAULT '{}',
    active_from      timestamptz,
    active_until     timestamptz,
    stock_available  integer     NOT NULL DEFAULT 0 CHECK (stock_available >= 0),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Every stock change, with who made it and why (append-only).
CREATE TABLE stock_changes (
    id          bigserial   PRIMARY KEY,
    reward_id   text        NOT NULL REFERENCES rewards (reward_id),
    delta       integer     NOT NULL CHECK (delta <> 0),
    reason      text        NOT NULL,
    actor       text        NOT NULL,
    stock_after integer     NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_changes_reward ON stock_changes (reward_id, id);
