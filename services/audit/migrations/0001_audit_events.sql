-- Every event of every service, as received from JetStream. Append-only; event_id is the
-- JetStream Nats-Msg-Id, so a redelivered event inserts nothing.
CREATE TABLE audit_events (
  id          bigserial PRIMARY KEY,
  event_id    uuid        NOT NULL UNIQUE,
  subject     text        NOT NULL,
  source      text        NOT NULL,
  project     text        NOT NULL,
  trace_id    text        NOT NULL,
  occurred_at timestamptz NOT NULL,
  stream_seq  bigint      NOT NULL,
  data        jsonb       NOT NULL,
  stored_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX audit_events_trace_idx ON audit_events (trace_id, stream_seq);
CREATE INDEX audit_events_project_time_idx ON audit_events (project, occurred_at);
