-- Policy proposals (issue 13 §4, seed 001): an agent's or an admin's YAML snippet for a project's
-- policy, the guardrails' verdicts, and how it ended.
CREATE TABLE policy_proposals (
  id             uuid        PRIMARY KEY,
  project        text        NOT NULL,
  model_id       text        NOT NULL,
  proposer       text        NOT NULL,
  via            text        NOT NULL CHECK (via IN ('agent','admin')),
  yaml           text        NOT NULL,
  justification  text        NOT NULL,
  guardrails     jsonb       NOT NULL,
  status         text        NOT NULL CHECK (status IN ('pending','approved','rejected')),
  auto_approved  boolean     NOT NULL DEFAULT false,
  version_id     uuid        REFERENCES policy_versions (id),
  reviewer       text,
  comment        text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  resolved_at    timestamptz
);

CREATE INDEX policy_proposals_queue_idx ON policy_proposals (project, status, created_at DESC);
