-- Points earned (credits less reversals of report, rating and volunteer points) per member and
-- business day: the trailing-365-day figure behind star levels is a sum of at most 365 rows.
CREATE TABLE earned_by_day (
    member_id   text    NOT NULL,
    day         date    NOT NULL,
    earned      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (member_id, day)
);
CREATE INDEX earned_by_day_day ON earned_by_day (day);

-- The star level last announced per member (member.level_changed is emitted when it moves).
CREATE TABLE member_levels (
    member_id   text        PRIMARY KEY,
    level       smallint    NOT NULL DEFAULT 0 CHECK (level BETWEEN 0 AND 5),
    earned_365d integer     NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Leaderboards: totals per calendar month, calendar year and all time, kept in step with the
-- ledger, so the top of a board is an index scan rather than an aggregation over transfers.
CREATE TABLE period_totals (
    period       text    NOT NULL CHECK (period IN ('month', 'year', 'all')),
    period_start date    NOT NULL,
    member_id    text    NOT NULL,
    district     text    NOT NULL,
    earned       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (period, period_start, member_id)
);
CREATE INDEX period_totals_top ON period_totals (period, period_start, earned DESC, member_id);
CREATE INDEX period_totals_district_top ON period_totals (period, period_start, district, earned DESC, member_id);

-- What was earned before these tables existed.
INSERT INTO earned_by_day (member_id, day, earned)
SELECT member_id, (occurred_at AT TIME ZONE 'Asia/Shanghai')::date,
       sum(CASE WHEN kind = 'reversal' THEN -amount ELSE amount END)
FROM transfers WHERE kind IN ('report', 'rating', 'volunteer', 'reversal') GROUP BY 1, 2;
