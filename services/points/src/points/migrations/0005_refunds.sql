-- Refunds: a confirmed redemption cancelled before fulfilment gives its points back with a
-- compensating transfer (the ledger is never edited). The hold remembers both transfers.
ALTER TABLE holds DROP CONSTRAINT holds_status_check;
ALTER TABLE holds ADD CONSTRAINT holds_status_check
    CHECK (status IN ('pending', 'captured', 'released', 'expired', 'refunded'));
ALTER TABLE holds DROP CONSTRAINT holds_check;
ALTER TABLE holds ADD COLUMN refund_transfer_id text REFERENCES transfers (transfer_id);
ALTER TABLE holds ADD CONSTRAINT holds_capture_check
    CHECK ((status IN ('captured', 'refunded')) = (transfer_id IS NOT NULL));
ALTER TABLE holds ADD CONSTRAINT holds_refund_check
    CHECK ((status = 'refunded') = (refund_transfer_id IS NOT NULL));
