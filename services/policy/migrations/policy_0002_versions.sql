-- Policy versions (issue 13 §2): every content a project's policies, contextual_policies or
-- model_keys file has had, in order, each signed (Ed25519) over its fields and content digest.
-- model_keys content is stored with agent keys replaced by their sha256 (key_sha256).
CREATE TABLE policy_versions (
  id          uuid        PRIMARY KEY,
  seq         bigserial   UNIQUE NOT NULL,
  project     text        NOT NULL,
  kind        text        NOT NULL CHECK (kind IN ('policies','contextual_policies','model_keys')),
  content     text        NOT NULL,
  sha256      text        NOT NULL,
  parent_id   uuid        REFERENCES policy_versions (id),
  author      text        NOT NULL,
  source      text        NOT NULL CHECK (source IN ('file','api','proposal','rollback')),
  reason      text        NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  key_id      text,
  signature   text
);

CREATE INDEX policy_versions_history_idx ON policy_versions (project, kind, seq DESC);
