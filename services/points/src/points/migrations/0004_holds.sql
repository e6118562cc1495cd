-- Holds (two-phase, like TigerBeetle's pending transfers): points reserved from a member's available
-- balance until captured (debited for good), released, or expired. member_balances.held is the sum
-- of the pending ones, kept in the same transaction.
CREATE TABLE holds (
    hold_id         text        PRIMARY KEY,
    member_id       text        NOT NULL,
    amount          integer     NOT NULL CHECK (amount > 0),
    status          text        NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'captured', 'released', 'expired')),
    reason          text        NOT NULL,
    resolution      text,
    expires_at      timestamptz NOT NULL,
    transfer_id     text        REFERENCES transfers (transfer_id),
    source          text        NOT NULL,
    source_event_id text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    CHECK ((status = 'captured') = (transfer_id IS NOT NULL))
);
CREATE INDEX holds_pending_expiry ON holds (expires_at) WHERE status = 'pending';
CREATE INDEX holds_member ON holds (member_id, created_at DESC);
