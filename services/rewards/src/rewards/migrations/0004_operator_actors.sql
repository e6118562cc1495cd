-- Every operator action recorded with who and when by the service that owns it (issue 21): who opened
-- a round, who created a reward and who last changed its terms, who registered a provider and who last
-- changed it. Actors as elsewhere: `operator:<name>` for a named operator token, else
-- `operator:<token fingerprint>`; a provider changed on the directory topic records the event's source
-- (`source:<CloudEvent source>`). Null: done before actors were recorded.

-- A round's `created_at` is when it was opened (`opens_at` is when it takes applications).
ALTER TABLE allocation_rounds ADD COLUMN opened_by text;

-- `updated_at` and `updated_by` are the last change of the reward's terms (its creation or a PATCH);
-- stock moves no longer touch `updated_at`: each is its own `stock_changes` row with its actor.
ALTER TABLE rewards
    ADD COLUMN created_by text,
    ADD COLUMN updated_by text;

-- Providers registered before this have no `created_at` (null rather than the migration's time).
ALTER TABLE providers
    ADD COLUMN created_at timestamptz,
    ADD COLUMN created_by text,
    ADD COLUMN updated_by text;
ALTER TABLE providers ALTER COLUMN created_at SET DEFAULT now();
