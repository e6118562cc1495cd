-- Who changed a webhook (issue 21): the actor the kernel's auth names for the operator's token,
-- `operator:<name>` for a named operator entry, else `operator:<token fingerprint>`. NULL for what
-- was done before this migration.
ALTER TABLE webhooks ADD COLUMN created_by text, ADD COLUMN disabled_by text;
-- The last operator who sent a dead letter again (`redriven` counts the times).
ALTER TABLE webhook_deliveries ADD COLUMN redriven_by text;
