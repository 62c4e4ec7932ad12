import { z } from 'zod';
import { errorCodeSchema } from '../errors.js';
import { ruleTraceEntrySchema } from '../policy/decide.js';

/**
 * policy: the config directory changed and this version is now active. Also the broadcast that
 * tells every instance (policy, ingress, executor) to reload: they subscribe to it directly.
 */
export const POLICY_CHANGED = 'gw.evt.policy.changed.v1';
export const policyChangedSchema = z.object({
  version: z.string(),
  previous_version: z.string().nullable(),
  instance: z.string(),
});
export type PolicyChanged = z.infer<typeof policyChangedSchema>;

const outcomeSchema = z.object({
  allowed: z.boolean(),
  code: errorCodeSchema.nullable(),
  requires_approval: z.boolean(),
});

/** policy: the preview (shadow) policy's decision on a call, beside the live one. Never enforced. */
export const SHADOW_EVALUATED = 'gw.evt.shadow.evaluated.v1';
export const shadowEvaluatedSchema = z.object({
  agent_id: z.string(),
  session_id: z.string(),
  request_id: z.string(),
  tool: z.string(),
  live: outcomeSchema,
  shadow: outcomeSchema.extend({
    reason: z.string(),
    risk_score: z.number(),
    rule_trace: z.array(ruleTraceEntrySchema),
  }),
  /** True where the preview would have decided otherwise (allow/deny, code or approval). */
  differs: z.boolean(),
});
export type ShadowEvaluated = z.infer<typeof shadowEvaluatedSchema>;

/** policy: a call waits for a person's approval. */
export const APPROVAL_REQUESTED = 'gw.evt.approval.requested.v1';
export const approvalRequestedSchema = z.object({
  approval_id: z.string(),
  agent_id: z.string(),
  tool: z.string(),
  request_id: z.string(),
  arguments_digest: z.string(),
  policy_version: z.string(),
  expires_at: z.string(),
});

/** policy: an approval left `pending`: approved, rejected, expired, denied on re-check, executed, failed. */
export const APPROVAL_RESOLVED = 'gw.evt.approval.resolved.v1';
export const approvalResolvedSchema = z.object({
  approval_id: z.string(),
  agent_id: z.string(),
  tool: z.string(),
  request_id: z.string(),
  status: z.enum(['approved', 'rejected', 'expired', 'denied', 'executed', 'failed']),
  approver: z.string().nullable(),
  /** The approver's comment (null when none was given); absent from events stored before it existed. */
  comment: z.string().nullable().optional(),
});
