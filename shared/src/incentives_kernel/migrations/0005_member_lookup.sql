-- Find a member by phone or identity number without storing either: keyed HMAC-SHA256 digests
-- (incentives_kernel.pii; the key is configuration, never in the database). NULL when the event
-- carried no such number or the service runs without INCENTIVES_PII_KEY.
ALTER TABLE members ADD COLUMN phone_hmac bytea, ADD COLUMN id_number_hmac bytea;
CREATE INDEX members_phone_hmac ON members (phone_hmac) WHERE phone_hmac IS NOT NULL;
CREATE INDEX members_id_number_hmac ON members (id_number_hmac) WHERE id_number_hmac IS NOT NULL;
