-- Acknowledging an alert (POST /api/alerts/:id/ack): who, when and why, once. The first
-- acknowledgement stays: the update that sets it requires acknowledged_at IS NULL.
ALTER TABLE alerts
  ADD COLUMN acknowledged_at timestamptz,
  ADD COLUMN acknowledged_by text,
  ADD COLUMN ack_note        text,
  ADD CONSTRAINT alerts_ack_whole CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL)),
  ADD CONSTRAINT alerts_ack_note_needs_ack CHECK (ack_note IS NULL OR acknowledged_at IS NOT NULL);

-- The alerts nobody acknowledged yet, newest first: what an operator works through.
CREATE INDEX alerts_open_idx ON alerts (raised_at, alert_id) WHERE acknowledged_at IS NULL;
