-- The hash-chained audit trail (ADR 0008). Rows stored before this migration were not
-- chained; they stay, unchanged, in audit_events_unchained.
ALTER TABLE audit_events RENAME TO audit_events_unchained;
ALTER INDEX audit_events_trace_idx RENAME TO audit_events_unchained_trace_idx;
ALTER INDEX audit_events_project_time_idx RENAME TO audit_events_unchained_project_time_idx;

-- One row per event, append-only. Per project, rows form a chain: chain_seq 1, 2, 3, ...;
-- prev_hash is the previous row's hash ('' for the first); hash = sha256(prev_hash || canonical
-- JSON of every other column). Every column is covered, so changing any one breaks the chain.
-- `data` is `json`, which keeps the exact text written (the canonical JSON the hash covers):
-- jsonb would give numbers back as doubles and hide a change past their precision. Times are
-- stored to the millisecond, the precision they are hashed with.
CREATE TABLE audit_events (
  project     text        NOT NULL,
  chain_seq   bigint      NOT NULL,
  event_id    uuid        NOT NULL UNIQUE,
  subject     text        NOT NULL,
  source      text        NOT NULL,
  trace_id    text        NOT NULL,
  occurred_at timestamptz(3) NOT NULL,
  stream_seq  bigint      NOT NULL,
  data        json        NOT NULL,
  stored_at   timestamptz(3) NOT NULL,
  prev_hash   text        NOT NULL,
  hash        text        NOT NULL,
  PRIMARY KEY (project, chain_seq)
);

CREATE INDEX audit_events_trace_idx ON audit_events (trace_id, stream_seq);
CREATE INDEX audit_events_project_time_idx ON audit_events (project, occurred_at);
-- One toolcall.completed row per call: the records query and the export page through these.
CREATE INDEX audit_events_calls_idx ON audit_events (occurred_at, event_id)
  WHERE subject = 'gw.evt.toolcall.completed.v1';
CREATE INDEX audit_events_session_idx ON audit_events (project, (data->>'session_id'), occurred_at)
  WHERE subject = 'gw.evt.toolcall.completed.v1';

-- The last row of each project's chain. Written in the same transaction as the rows, under a
-- per-project advisory lock, so any number of audit instances extend one chain per project.
CREATE TABLE audit_chain_heads (
  project    text        PRIMARY KEY,
  chain_seq  bigint      NOT NULL,
  hash       text        NOT NULL,
  updated_at timestamptz NOT NULL
);

-- Ed25519-signed (project, chain_seq, hash) points, exported for safekeeping.
CREATE TABLE audit_checkpoints (
  project    text        NOT NULL,
  chain_seq  bigint      NOT NULL,
  hash       text        NOT NULL,
  created_at timestamptz NOT NULL,
  key_id     text        NOT NULL,
  signature  text        NOT NULL,
  PRIMARY KEY (project, chain_seq)
);
