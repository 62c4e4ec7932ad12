-- audit_events partitioned by month of stored_at (ADR 0008, "Partitioning and retention").
-- stored_at is set by the ingest under the chain lock, so each month holds a run of every chain
-- (occurred_at, set by each event's sender, would scatter late events over old months). The rows
-- are copied as they are: every chain field is kept, so the chain verifies as before.
ALTER TABLE audit_events RENAME TO audit_events_unpartitioned;
ALTER INDEX audit_events_trace_idx RENAME TO audit_events_unpartitioned_trace_idx;
ALTER INDEX audit_events_project_time_idx RENAME TO audit_events_unpartitioned_project_time_idx;
ALTER INDEX audit_events_calls_idx RENAME TO audit_events_unpartitioned_calls_idx;
ALTER INDEX audit_events_session_idx RENAME TO audit_events_unpartitioned_session_idx;

-- A unique index of a partitioned table must hold the partition key, so (project, chain_seq) is
-- no longer unique in PostgreSQL's eyes: the chain lock keeps it so, and verification names a
-- second row at a position. event_id uniqueness moves to audit_event_ids.
CREATE TABLE audit_events (
  project     text        NOT NULL,
  chain_seq   bigint      NOT NULL CONSTRAINT audit_events_chain_seq_positive CHECK (chain_seq > 0),
  event_id    uuid        NOT NULL,
  subject     text        NOT NULL,
  source      text        NOT NULL,
  trace_id    text        NOT NULL,
  occurred_at timestamptz(3) NOT NULL,
  stream_seq  bigint      NOT NULL,
  data        json        NOT NULL,
  stored_at   timestamptz(3) NOT NULL,
  prev_hash   text        NOT NULL,
  hash        text        NOT NULL,
  PRIMARY KEY (project, chain_seq, stored_at)
) PARTITION BY RANGE (stored_at);

CREATE INDEX audit_events_trace_idx ON audit_events (trace_id, stream_seq);
CREATE INDEX audit_events_project_time_idx ON audit_events (project, occurred_at);
CREATE INDEX audit_events_event_idx ON audit_events (event_id);
CREATE INDEX audit_events_calls_idx ON audit_events (occurred_at, event_id)
  WHERE subject = 'gw.evt.toolcall.completed.v1';
CREATE INDEX audit_events_session_idx ON audit_events (project, (data->>'session_id'), occurred_at)
  WHERE subject = 'gw.evt.toolcall.completed.v1';

-- Rows whose month has no partition (a clock far off): stored, never refused, and moved into
-- their month's partition when it is created.
CREATE TABLE audit_events_default PARTITION OF audit_events DEFAULT;

-- Every stored event id, once: the ingest's idempotency (a redelivered event inserts nothing).
-- Not partitioned, so the id alone is the key whatever the row's stored_at. Retention deletes
-- the ids of the rows it drops.
CREATE TABLE audit_event_ids (
  event_id  uuid        PRIMARY KEY,
  stored_at timestamptz(3) NOT NULL
);

-- Where verification starts when retention dropped a chain's oldest rows: after row chain_seq,
-- whose hash a signed checkpoint at that position vouches for. No row: from row 1.
CREATE TABLE audit_chain_starts (
  project    text        PRIMARY KEY,
  chain_seq  bigint      NOT NULL,
  hash       text        NOT NULL,
  dropped_at timestamptz NOT NULL
);

-- The partition of the month that holds `at` (UTC), created if missing; rows of that month in
-- the DEFAULT partition are moved into it. Returns its name.
CREATE FUNCTION audit_ensure_partition(at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  lo timestamptz := date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
  hi timestamptz := (date_trunc('month', at AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
  name text := 'audit_events_p' || to_char(at AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
  IF to_regclass(format('%I.%I', current_schema(), name)) IS NOT NULL THEN
    RETURN name;
  END IF;
  EXECUTE format('CREATE TABLE %I (LIKE audit_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
  EXECUTE format('WITH m AS (DELETE FROM audit_events_default WHERE stored_at >= %L AND stored_at < %L RETURNING *) INSERT INTO %I SELECT * FROM m', lo, hi, name);
  EXECUTE format('ALTER TABLE audit_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
  RETURN name;
END $$;

-- A partition for every month that holds rows, and for this month and the next three.
SELECT audit_ensure_partition(m)
  FROM (SELECT DISTINCT date_trunc('month', stored_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS m FROM audit_events_unpartitioned
        UNION SELECT now() + make_interval(months => i) FROM generate_series(0, 3) AS i) AS months;

INSERT INTO audit_events SELECT project, chain_seq, event_id, subject, source, trace_id, occurred_at, stream_seq, data, stored_at, prev_hash, hash
  FROM audit_events_unpartitioned;
INSERT INTO audit_event_ids SELECT event_id, stored_at FROM audit_events_unpartitioned;
DROP TABLE audit_events_unpartitioned;
