-- The analytics service's aggregates (docs/analytics.md). Built from gw.evt.toolcall.completed.v1
-- and gw.evt.shadow.evaluated.v1, by the analytics consumer and, on a first start, from
-- audit_events. Every count is added once per event: analytics_events holds the ids counted.
-- Times are UTC; `bucket` is the start of its hour (analytics_calls_hourly) or day (the rest).

-- The events counted (idempotency on the event id), pruned after ANALYTICS_DEDUPE_DAYS.
CREATE TABLE analytics_events (
  event_id    uuid        PRIMARY KEY,
  occurred_at timestamptz NOT NULL,
  counted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analytics_events_counted_idx ON analytics_events (counted_at);

-- Calls by tool, agent, user, outcome and code, per hour and per day. risk_n counts the calls
-- that carried a risk score; avg risk = risk_sum / risk_n.
CREATE TABLE analytics_calls_hourly (
  project    text             NOT NULL,
  bucket     timestamptz      NOT NULL,
  tool       text             NOT NULL,
  agent_id   text             NOT NULL,
  user_id    text             NOT NULL,
  outcome    text             NOT NULL,
  code       text             NOT NULL,
  calls      bigint           NOT NULL,
  risk_n     bigint           NOT NULL,
  risk_sum   double precision NOT NULL,
  risk_max   double precision NOT NULL,
  first_seen timestamptz      NOT NULL,
  last_seen  timestamptz      NOT NULL,
  PRIMARY KEY (project, bucket, tool, agent_id, user_id, outcome, code)
);
CREATE TABLE analytics_calls_daily (LIKE analytics_calls_hourly INCLUDING ALL);

-- Denials by their failed check and rule, with up to five example trace ids.
CREATE TABLE analytics_denials (
  project    text        NOT NULL,
  bucket     timestamptz NOT NULL,
  agent_id   text        NOT NULL,
  tool       text        NOT NULL,
  code       text        NOT NULL,
  check_name text        NOT NULL,
  rule       text        NOT NULL,
  reason     text        NOT NULL,
  calls      bigint      NOT NULL,
  first_seen timestamptz NOT NULL,
  last_seen  timestamptz NOT NULL,
  trace_ids  text[]      NOT NULL,
  PRIMARY KEY (project, bucket, agent_id, tool, code, check_name, rule)
);

-- Calls the policy allowed (decision.allowed), by agent and tool: what "unused permissions"
-- matches the policy's allow globs and key scopes against.
CREATE TABLE analytics_grants (
  project    text        NOT NULL,
  bucket     timestamptz NOT NULL,
  agent_id   text        NOT NULL,
  tool       text        NOT NULL,
  calls      bigint      NOT NULL,
  last_seen  timestamptz NOT NULL,
  PRIMARY KEY (project, bucket, agent_id, tool)
);

-- Each rate limit an agent's calls were counted in: the calls it counted, the highest use
-- seen, and the 429s.
CREATE TABLE analytics_limits (
  project   text        NOT NULL,
  bucket    timestamptz NOT NULL,
  agent_id  text        NOT NULL,
  scope     text        NOT NULL,
  lim       integer     NOT NULL,
  window_s  integer     NOT NULL,
  calls     bigint      NOT NULL,
  peak_used integer     NOT NULL,
  hits      bigint      NOT NULL,
  trace_ids text[]      NOT NULL,
  PRIMARY KEY (project, bucket, agent_id, scope, lim, window_s)
);

-- Risk scores by tenths: bucket 0 holds [0, 0.1), ..., bucket 9 holds [0.9, 1].
CREATE TABLE analytics_risk (
  project  text        NOT NULL,
  bucket   timestamptz NOT NULL,
  agent_id text        NOT NULL,
  tenth    smallint    NOT NULL,
  calls    bigint      NOT NULL,
  PRIMARY KEY (project, bucket, agent_id, tenth)
);

-- One row per session and agent: its calls, denials and highest risk, with that call's factors.
CREATE TABLE analytics_sessions (
  project    text             NOT NULL,
  session_id text             NOT NULL,
  agent_id   text             NOT NULL,
  first_seen timestamptz      NOT NULL,
  last_seen  timestamptz      NOT NULL,
  calls      bigint           NOT NULL,
  denials    bigint           NOT NULL,
  max_risk   double precision NOT NULL,
  last_risk  double precision NOT NULL,
  factors    text             NOT NULL,
  trace_id   text             NOT NULL,
  PRIMARY KEY (project, session_id, agent_id)
);
CREATE INDEX analytics_sessions_recent_idx ON analytics_sessions (project, last_seen);

-- The preview (shadow) policy against the live one: decisions as `allow`, `approval` or
-- `deny:<code>`, the preview's deciding rule, and up to five example trace ids.
CREATE TABLE analytics_shadow (
  project     text        NOT NULL,
  bucket      timestamptz NOT NULL,
  tool        text        NOT NULL,
  agent_id    text        NOT NULL,
  live        text        NOT NULL,
  shadow      text        NOT NULL,
  shadow_rule text        NOT NULL,
  differs     boolean     NOT NULL,
  calls       bigint      NOT NULL,
  trace_ids   text[]      NOT NULL,
  PRIMARY KEY (project, bucket, tool, agent_id, live, shadow, shadow_rule)
);

-- Suggestions an analyst dismissed: hidden while their id (kind, subject and change) is the same.
CREATE TABLE analytics_dismissals (
  project       text        NOT NULL,
  suggestion_id text        NOT NULL,
  dismissed_by  text        NOT NULL,
  why           text        NOT NULL,
  dismissed_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (project, suggestion_id)
);

-- Progress of the backfill from audit_events.
CREATE TABLE analytics_state (
  key   text  PRIMARY KEY,
  value jsonb NOT NULL
);
