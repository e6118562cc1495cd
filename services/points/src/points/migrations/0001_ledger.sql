-- Double-entry, append-only: every movement of points is one transfer between two accounts.
-- Member accounts are `member:<id>`; system accounts are `issuance:<district>`,
-- `adjustment:<district>`. Member balances are kept in step in member_balances, in the same
-- transaction; system balances are derived (sums), so no hot row serialises every credit.
CREATE TABLE transfers (
    transfer_id     text        PRIMARY KEY,
    debit_account   text        NOT NULL,
    credit_account  text        NOT NULL,
    amount          bigint      NOT NULL CHECK (amount > 0),
    kind            text        NOT NULL,
    member_id       text        NOT NULL,
    rule_version    text        NOT NULL,
    reason          text        NOT NULL,
    source          text        NOT NULL,
    source_event_id text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    seq             bigserial   NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (debit_account <> credit_account)
);
CREATE INDEX transfers_member ON transfers (member_id, seq DESC);
CREATE INDEX transfers_member_time ON transfers (member_id, occurred_at);
CREATE INDEX transfers_source ON transfers (source, source_event_id);

CREATE FUNCTION transfers_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'transfers are append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER transfers_no_update BEFORE UPDATE OR DELETE OR TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION transfers_append_only();

CREATE TABLE member_balances (
    member_id   text    PRIMARY KEY,
    credits     bigint  NOT NULL DEFAULT 0 CHECK (credits >= 0),
    debits      bigint  NOT NULL DEFAULT 0 CHECK (debits >= 0),
    held        bigint  NOT NULL DEFAULT 0 CHECK (held >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
