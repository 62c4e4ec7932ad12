import type { DecideRequest, Decision } from '@sg/contracts';

/** A decide request and an allowing decision, for the bus tests' handlers. */
export const decideRequest: DecideRequest = {
  project: 'default',
  agent_id: 'a',
  session_id: 's',
  request_id: 'r',
  channel: 'rest',
  tool: 'calendar.list_events',
  arguments: {},
};

export const allow: Decision = {
  allowed: true,
  code: null,
  reason: 'ok',
  rule_trace: [],
  reasoning: [],
  suggestions: [],
  risk_score: 0,
  requires_approval: false,
  policy_version: 'v1',
};
