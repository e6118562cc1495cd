-- What earned (a report id, an attendance id) and, for a compensating transfer, what it reverses.
-- Adding columns is not an UPDATE of transfers: the append-only trigger stays in force.
ALTER TABLE transfers ADD COLUMN ref text;
ALTER TABLE transfers ADD COLUMN reverses text REFERENCES transfers (transfer_id);
CREATE UNIQUE INDEX transfers_reversed_once ON transfers (reverses) WHERE reverses IS NOT NULL;

-- Report-related points earned per member per business day, for the daily cap.
CREATE TABLE daily_earnings (
    member_id   text    NOT NULL,
    day         date    NOT NULL,
    earned      integer NOT NULL DEFAULT 0 CHECK (earned >= 0),
    PRIMARY KEY (member_id, day)
);

-- What the cap cut, so the rider can see why; it shares the ledger's sequence so the ledger page
-- shows cuts in order among the transfers.
CREATE TABLE cap_cuts (
    cut_id          text        PRIMARY KEY,
    member_id       text        NOT NULL,
    day             date        NOT NULL,
    kind            text        NOT NULL,
    ref             text        NOT NULL,
    requested       integer     NOT NULL CHECK (requested > 0),
    credited        integer     NOT NULL CHECK (credited >= 0),
    cut             integer     NOT NULL CHECK (cut > 0),
    rule_version    text        NOT NULL,
    reason          text        NOT NULL,
    source          text        NOT NULL,
    source_event_id text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    seq             bigint      NOT NULL DEFAULT nextval('transfers_seq_seq') UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cap_cuts_member ON cap_cuts (member_id, seq DESC);
