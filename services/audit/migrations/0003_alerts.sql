-- Anomaly alerts (seed 002) and their SIEM delivery outbox.
CREATE TABLE alerts (
  alert_id     uuid        PRIMARY KEY,
  project      text        NOT NULL,
  type         text        NOT NULL,
  severity     text        NOT NULL,
  key          text        NOT NULL,
  raised_at    timestamptz NOT NULL,
  -- The alert exactly as published on gw.evt.alert.raised.v1 and sent to the SIEM.
  data         jsonb       NOT NULL,
  -- Repeats of the same (project, type, key) within the cooldown, folded into this alert.
  suppressed   integer     NOT NULL DEFAULT 0,
  last_seen_at timestamptz NOT NULL
);
CREATE INDEX alerts_dedupe_idx ON alerts (project, type, key, raised_at DESC);
CREATE INDEX alerts_time_idx ON alerts (raised_at, alert_id);

-- One row per alert and configured SIEM sink, written in the alert's transaction; a sender
-- leases due rows (lease_until), sends, and marks them delivered or schedules the next attempt.
CREATE TABLE siem_outbox (
  id              bigserial   PRIMARY KEY,
  alert_id        uuid        NOT NULL REFERENCES alerts (alert_id),
  sink            text        NOT NULL,
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  lease_until     timestamptz,
  delivered_at    timestamptz,
  last_error      text,
  UNIQUE (alert_id, sink)
);
CREATE INDEX siem_outbox_due_idx ON siem_outbox (next_attempt_at) WHERE delivered_at IS NULL;

-- Tools and agents each project has seen, for the first-seen detectors.
CREATE TABLE audit_seen (
  project    text        NOT NULL,
  kind       text        NOT NULL,
  name       text        NOT NULL,
  first_seen timestamptz NOT NULL,
  PRIMARY KEY (project, kind, name)
);
