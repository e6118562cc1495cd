-- The Kafka headers of a parked record, so that if it is dead-lettered its DLQ record keeps them.
ALTER TABLE parked_events ADD COLUMN headers jsonb NOT NULL DEFAULT '[]'::jsonb;
