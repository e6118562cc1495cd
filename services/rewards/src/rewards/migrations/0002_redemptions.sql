-- Rewards' view of each member's standing, from points' own events (no service reads another's
-- tables): the star level as points announced it, and earned points per business day, so that
-- allocation ranks by the same figures that points decides levels by.
CREATE TABLE member_standing (
    member_id   text        PRIMARY KEY,
    star_level  smallint    NOT NULL DEFAULT 0 CHECK (star_level BETWEEN 0 AND 5),
    as_of       timestamptz NOT NULL
);
CREATE TABLE earned_by_day (
    member_id   text    NOT NULL,
    day         date    NOT NULL,
    earned      integer NOT NULL,
    PRIMARY KEY (member_id, day)
);

-- One row per redemption_id, whichever way it arrived (HTTP, Kafka, a won allocation place).
-- `step` says where the saga is; `status` is what the contract calls its state.
CREATE TABLE redemptions (
    redemption_id   text        PRIMARY KEY,
    member_id       text        NOT NULL,
    reward_id       text        NOT NULL,
    kind            text        NOT NULL CHECK (kind IN ('instant', 'allocation')),
    round_id        text,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'confirmed', 'rejected', 'fulfilled', 'cancelled')),
    step            text        NOT NULL,
    reason          text,
    detail          text,
    cost_points     integer     NOT NULL CHECK (cost_points >= 0),
    hold_id         text        UNIQUE,
    stock_reserved  boolean     NOT NULL DEFAULT false,
    voucher_code    text        UNIQUE,
    business_year   integer     NOT NULL,
    requested_via   text        NOT NULL,
    deadline        timestamptz,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz,
    fulfilled_at    timestamptz,
    cancelled_at    timestamptz,
    cancelled_by    text,
    cancel_reason   text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'rejected') = (reason IS NOT NULL)),
    CHECK ((status IN ('confirmed', 'fulfilled', 'cancelled')) = (voucher_code IS NOT NULL)),
    CHECK (NOT stock_reserved OR kind = 'instant')
);
CREATE INDEX redemptions_member ON redemptions (member_id, requested_at DESC, redemption_id DESC);
CREATE INDEX redemptions_due ON redemptions (deadline) WHERE status = 'pending';
CREATE INDEX redemptions_taken ON redemptions (member_id, reward_id, business_year)
    WHERE status IN ('pending', 'confirmed', 'fulfilled');

-- Every step of every redemption, in order: what happened and why (append-only).
CREATE TABLE redemption_steps (
    id              bigserial   PRIMARY KEY,
    redemption_id   text        NOT NULL REFERENCES redemptions (redemption_id),
    step            text        NOT NULL,
    detail          text,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX redemption_steps_redemption ON redemption_steps (redemption_id, id);

-- Allocation rounds. The seed is fixed at opening; only its SHA-256 is shown until the close.
CREATE TABLE allocation_rounds (
    round_id        text        PRIMARY KEY,
    reward_id       text        NOT NULL REFERENCES rewards (reward_id),
    quota           integer     NOT NULL CHECK (quota > 0),
    opens_at        timestamptz NOT NULL,
    closes_at       timestamptz NOT NULL,
    seed            text        NOT NULL,
    seed_sha256     text        NOT NULL,
    seed_generated  boolean     NOT NULL,
    time_resolution_s integer   NOT NULL CHECK (time_resolution_s > 0),
    status          text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    closed_at       timestamptz,
    closed_by       text,
    standings_day   date,
    result_sha256   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (closes_at > opens_at),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX allocation_rounds_due ON allocation_rounds (closes_at) WHERE status = 'open';

-- One application per member and round; the figures are frozen at close.
CREATE TABLE applications (
    round_id        text        NOT NULL REFERENCES allocation_rounds (round_id),
    member_id       text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'held', 'rejected', 'winning', 'won', 'lost', 'offered',
                                      'forfeited', 'cancelled')),
    reason          text,
    hold_id         text        NOT NULL UNIQUE,
    offers          integer     NOT NULL DEFAULT 0,
    applied_at      timestamptz NOT NULL DEFAULT now(),
    star_level      smallint,
    earned_365d     integer,
    ranked_at       timestamptz,
    ticket          text,
    rank            integer,
    won_at_close    boolean,
    tie_broken_by_lottery boolean,
    redemption_id   text        REFERENCES redemptions (redemption_id),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (round_id, member_id)
);
CREATE INDEX applications_rank ON applications (round_id, rank);

-- Every hold rewards asked points for, what it asked last (`wanted`) and what points last said
-- (`status`): at rest the two agree, which the audit checks against points' own holds.
CREATE TABLE holds (
    hold_id         text        PRIMARY KEY,
    member_id       text        NOT NULL,
    amount          integer     NOT NULL CHECK (amount > 0),
    purpose         text        NOT NULL CHECK (purpose IN ('redemption', 'application')),
    redemption_id   text,
    round_id        text,
    wanted          text        NOT NULL DEFAULT 'pending'
                    CHECK (wanted IN ('pending', 'captured', 'released', 'refunded')),
    status          text        NOT NULL DEFAULT 'requested'
                    CHECK (status IN ('requested', 'pending', 'captured', 'released', 'expired', 'rejected',
                                      'refunded')),
    detail          text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((purpose = 'redemption') = (redemption_id IS NOT NULL)),
    CHECK ((purpose = 'application') = (round_id IS NOT NULL))
);
