-- Pending human approvals (seed 004), each bound to one exact call: tool, agent, project,
-- a digest of the arguments and the policy version it was requested under, with an expiry.
CREATE TABLE approvals (
  id               uuid        PRIMARY KEY,
  status           text        NOT NULL CHECK (status IN ('pending','approved','rejected','expired','denied','executed','failed')),
  project          text        NOT NULL,
  agent_id         text        NOT NULL,
  tool             text        NOT NULL,
  request_id       text        NOT NULL,
  call             jsonb       NOT NULL,
  arguments_digest text        NOT NULL,
  policy_version   text        NOT NULL,
  trace_id         text        NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  resolved_at      timestamptz,
  approver         text,
  outcome          jsonb
);

CREATE INDEX approvals_pending_idx ON approvals (expires_at) WHERE status = 'pending';
