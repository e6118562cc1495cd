-- Version 2: star-rider awards (allocation rewards that cost nothing), the public notice after a
-- round closes, vouchers that expire and that providers redeem, and the registry of providers.

-- An award is an allocation reward that costs 0 points; instant rewards still cost something.
ALTER TABLE rewards DROP CONSTRAINT rewards_cost_points_check;
ALTER TABLE rewards ADD CONSTRAINT rewards_cost_points_check
    CHECK (cost_points > 0 OR (kind = 'allocation' AND cost_points = 0));
ALTER TABLE rewards
    ADD COLUMN places        integer  CHECK (places >= 0),                 -- allocation: places there are in all (null: not limited)
    ADD COLUMN notice_days   smallint NOT NULL DEFAULT 5 CHECK (notice_days BETWEEN 0 AND 60),
    ADD COLUMN valid_days    smallint NOT NULL DEFAULT 90 CHECK (valid_days BETWEEN 1 AND 3660),
    ADD COLUMN refund_on_expiry boolean NOT NULL DEFAULT false,
    ADD COLUMN providers     text[]   NOT NULL DEFAULT '{}';                -- provider ids that may serve it; empty = any

-- Rounds: `closing` waits (bounded) for holds points has not answered yet; the result is provisional
-- during the notice and final after it. The seed is mixed from the server's own randomness (fixed at
-- opening) and the operator's, if one was given: both are revealed at the close.
ALTER TABLE allocation_rounds DROP CONSTRAINT allocation_rounds_status_check;
ALTER TABLE allocation_rounds ADD CONSTRAINT allocation_rounds_status_check
    CHECK (status IN ('open', 'closing', 'closed'));
ALTER TABLE allocation_rounds
    ADD COLUMN server_seed    text,
    ADD COLUMN operator_seed  text,
    ADD COLUMN closing_since  timestamptz,
    ADD COLUMN result_status  text CHECK (result_status IN ('provisional', 'final')),
    ADD COLUMN notice_ends_at timestamptz,
    ADD COLUMN finalised_at   timestamptz,
    ADD CONSTRAINT allocation_rounds_result_when_closed CHECK ((status = 'closed') = (result_status IS NOT NULL));
CREATE INDEX allocation_rounds_notice ON allocation_rounds (notice_ends_at) WHERE result_status = 'provisional';
CREATE INDEX allocation_rounds_listed ON allocation_rounds (created_at DESC, round_id DESC);

ALTER TABLE applications DROP CONSTRAINT applications_status_check;
ALTER TABLE applications ADD CONSTRAINT applications_status_check
    CHECK (status IN ('pending', 'held', 'rejected', 'winning', 'won', 'lost', 'offered', 'forfeited', 'cancelled',
                      'disqualified'));
ALTER TABLE applications
    ADD COLUMN disqualified_at timestamptz,
    ADD COLUMN disqualified_by text;

-- Vouchers: every confirmed redemption's code expires; an expired one is `expired` (its points refunded
-- or not, by the reward's policy). A redeem records which provider and when.
ALTER TABLE redemptions DROP CONSTRAINT redemptions_status_check;
ALTER TABLE redemptions ADD CONSTRAINT redemptions_status_check
    CHECK (status IN ('pending', 'confirmed', 'rejected', 'fulfilled', 'cancelled', 'expired'));
ALTER TABLE redemptions DROP CONSTRAINT redemptions_check1;
ALTER TABLE redemptions ADD CONSTRAINT redemptions_voucher_when_confirmed
    CHECK ((status IN ('confirmed', 'fulfilled', 'cancelled', 'expired')) = (voucher_code IS NOT NULL));
ALTER TABLE redemptions
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN expired_at   timestamptz,
    ADD COLUMN redeemed_by  text;
CREATE INDEX redemptions_expiring ON redemptions (expires_at) WHERE status = 'confirmed';

-- Providers and stations (operators over HTTP, or incentives.directory.v1). Nearest-first listing:
-- a GiST index on point(lon, lat) answers `ORDER BY point(lon, lat) <-> point(...)` by KNN.
CREATE TABLE providers (
    provider_id   text        PRIMARY KEY,
    name          text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('station', 'shop', 'hospital', 'school_office', 'other')),
    address       text        NOT NULL DEFAULT '',
    lat           double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon           double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    opening_hours text        NOT NULL DEFAULT '',
    active        boolean     NOT NULL DEFAULT true,
    as_of         timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX providers_location ON providers USING gist (point(lon, lat)) WHERE active;
