import { z } from 'zod';
import {
  argumentsSchema,
  channelSchema,
  idSchema,
  projectIdSchema,
  callableToolNameSchema,
} from '../common.js';
import { errorCodeSchema } from '../errors.js';

export const DECIDE_SUBJECT = 'gw.policy.decide.v1';

/**
 * The idempotency claim of a call's request_id, taken by the decision's own Redis round trip
 * before anything is counted (ADR 0010): `record` is stored at `key` for `ttl_s` if the key is
 * free; if it is not, nothing is counted and the stored record comes back in the decision.
 */
export const decideClaimSchema = z.object({
  key: z.string().min(1).max(200),
  record: z.string().max(1024),
  ttl_s: z
    .number()
    .int()
    .positive()
    .max(24 * 3600),
});
export type DecideClaim = z.infer<typeof decideClaimSchema>;

export const decideRequestSchema = z.object({
  project: projectIdSchema,
  agent_id: idSchema,
  /** The end user the agent acts for (X-User-Id), when known: per-user rate limits apply. */
  user_id: idSchema.optional(),
  session_id: idSchema,
  request_id: idSchema,
  channel: channelSchema,
  /** A local tool, or a peer's as `<peer_id>/<tool>` (decided here before it is forwarded). */
  tool: callableToolNameSchema,
  arguments: argumentsSchema,
  claim: decideClaimSchema.optional(),
});
export type DecideRequest = z.infer<typeof decideRequestSchema>;

export const ruleTraceEntrySchema = z.object({
  check: z.string(),
  outcome: z.enum(['pass', 'fail', 'skip']),
  /** The rule that decided, e.g. `policies/default.yaml#rules[0].allow_tools[0]`. */
  rule: z.string().optional(),
  detail: z.string().optional(),
});
export type RuleTraceEntry = z.infer<typeof ruleTraceEntrySchema>;

export const violationSchema = z.object({ path: z.string(), message: z.string() });
export type Violation = z.infer<typeof violationSchema>;

/** Seed 001's explainable decision, returned for every call, allowed or not. */
export const decisionSchema = z.object({
  allowed: z.boolean(),
  /** Stable code of the failed check; null when allowed. */
  code: errorCodeSchema.nullable(),
  reason: z.string(),
  rule_trace: z.array(ruleTraceEntrySchema),
  reasoning: z.array(z.string()),
  suggestions: z.array(z.string()),
  risk_score: z.number().min(0).max(1),
  requires_approval: z.boolean(),
  policy_version: z.string(),
  retry_after_ms: z.number().int().nonnegative().optional(),
  violations: z.array(violationSchema).optional(),
  /** What plugins added to the call (docs/plugins.md), by plugin name. */
  annotations: z.record(z.string(), z.unknown()).optional(),
  /**
   * Whether the request's claim was taken (present only when one was asked for and the store
   * answered). Not won: the request_id is taken, `stored` is what its key holds, nothing was
   * counted, and the decision itself is a placeholder denial (check `idempotency`).
   */
  claim: z.object({ won: z.boolean(), stored: z.string().nullable() }).optional(),
});
export type Decision = z.infer<typeof decisionSchema>;

/**
 * What a plugin is asked and answers (docs/plugins.md): a local one through onToolCall(ctx, tool,
 * payload), a remote one as JSON on `gw.plugin.<name>.v1`.
 */
export const pluginCallSchema = z.object({
  ctx: z.object({
    project: z.string(),
    agent_id: z.string(),
    session_id: z.string(),
    request_id: z.string(),
    user_id: z.string().nullable(),
    trace_id: z.string(),
    channel: z.string(),
    risk_score: z.number(),
    policy_version: z.string(),
  }),
  tool: z.string(),
  payload: z.record(z.string(), z.unknown()),
});
export type PluginCall = z.infer<typeof pluginCallSchema>;
/** Nothing (null): the plugin lets the call pass; `deny`: refused with that reason; `annotate`: added to the call. */
export const pluginAnswerSchema = z
  .strictObject({
    deny: z.string().min(1).max(500).optional(),
    annotate: z.record(z.string(), z.unknown()).optional(),
  })
  .nullable();
export type PluginAnswer = z.infer<typeof pluginAnswerSchema>;
