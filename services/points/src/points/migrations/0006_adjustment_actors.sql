-- Who made each operator adjustment (issue 21): the actor the kernel's auth names for the token that
-- asked, `operator:<name>` for a named operator entry, else `operator:<token fingerprint>`. A table of
-- its own rather than a column of transfers: the ledger's insert path stays as it is, and an
-- adjustment's transfer id (`adjustment:<id>`) finds its actor.
CREATE TABLE adjustment_actors (
    transfer_id text        PRIMARY KEY REFERENCES transfers (transfer_id),
    actor       text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
