import { z } from 'zod';
import { projectIdSchema } from '../common.js';
import { decideRequestSchema, decisionSchema } from '../policy/decide.js';

/** The exact call an approval is bound to: the decide request it was decided on. */
export const approvalCallSchema = decideRequestSchema;
export type ApprovalCall = z.infer<typeof approvalCallSchema>;

export const approvalStatusSchema = z.enum([
  'pending',
  'approved',
  'rejected',
  'expired',
  'denied',
  'executed',
  'failed',
]);
export type ApprovalStatus = z.infer<typeof approvalStatusSchema>;

export const approvalOutcomeSchema = z.object({
  http_status: z.number().int(),
  result: z.unknown().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

export const approvalViewSchema = z.object({
  approval_id: z.uuid(),
  status: approvalStatusSchema,
  project: z.string(),
  agent_id: z.string(),
  tool: z.string(),
  request_id: z.string(),
  /** The trace of the original call: the approved run is recorded under it too. */
  trace_id: z.string(),
  /** What the approver is approving: the exact arguments that will run. */
  arguments: z.record(z.string(), z.unknown()),
  /** sha256 of the canonical JSON of the arguments: the approval runs exactly these. */
  arguments_digest: z.string(),
  policy_version: z.string(),
  created_at: z.string(),
  expires_at: z.string(),
  resolved_at: z.string().nullable(),
  approver: z.string().nullable(),
  outcome: approvalOutcomeSchema.nullable(),
  /** The decision's risk score, for the approver to weigh; null for approvals stored before it was kept. */
  risk_score: z.number().min(0).max(1).nullable().default(null),
  /** What the approver said when resolving it; null when nothing was said. */
  comment: z.string().nullable().default(null),
});
export type ApprovalView = z.infer<typeof approvalViewSchema>;

/** Most characters of an approver's comment. */
export const APPROVAL_COMMENT_MAX = 500;
/** An approver's comment: free text, not a secret, but bounded (and PostgreSQL text holds no U+0000). */
export const approvalCommentSchema = z
  .string()
  .trim()
  .min(1, 'a comment says something: leave it out rather than send it empty')
  .max(APPROVAL_COMMENT_MAX, `a comment is at most ${APPROVAL_COMMENT_MAX} characters`)
  .refine((s) => !s.includes('\u0000'), 'a comment cannot contain U+0000');

export const APPROVAL_CREATE_SUBJECT = 'gw.policy.approval_create.v1';
export const approvalCreateSchema = z.object({
  call: approvalCallSchema,
  policy_version: z.string(),
  /** The decision's risk score (absent from an older ingress: stored as null). */
  risk_score: z.number().min(0).max(1).optional(),
});

export const APPROVAL_GET_SUBJECT = 'gw.policy.approval_get.v1';
export const approvalGetSchema = z.object({ approval_id: z.uuid() });

/**
 * Approve (after re-checking the policy) or reject. Only one resolver can win; an approved
 * answer carries the stored call for the caller to execute, exactly once.
 */
/**
 * The approvals queue, one status at a time: `pending` soonest expiry first (the ones about
 * to lapse on top; unexpired only), every other status newest first. `cursor` is the last
 * page's `next_cursor`, valid only for the same status and project.
 */
export const APPROVAL_LIST_SUBJECT = 'gw.policy.approval_list.v1';
/** Most approvals one page holds. */
export const APPROVALS_MAX_LIMIT = 200;
export const approvalListSchema = z.object({
  status: approvalStatusSchema.default('pending'),
  project: projectIdSchema.optional(),
  limit: z.number().int().min(1).max(APPROVALS_MAX_LIMIT).default(50),
  cursor: z.string().min(1).max(512).optional(),
});
export type ApprovalListQuery = z.infer<typeof approvalListSchema>;
export const approvalsPageSchema = z.object({
  approvals: z.array(approvalViewSchema),
  next_cursor: z.string().nullable(),
});
export type ApprovalsPage = z.infer<typeof approvalsPageSchema>;

export const APPROVAL_RESOLVE_SUBJECT = 'gw.policy.approval_resolve.v1';
export const approvalResolveSchema = z.object({
  approval_id: z.uuid(),
  approved: z.boolean(),
  approver: z.string().min(1).max(128),
  /** Refuse an approver who is the call's own end user or agent (admins.yaml `four_eyes`). */
  four_eyes: z.boolean().default(false),
  comment: approvalCommentSchema.optional(),
});
export const approvalResolutionSchema = z.object({
  approval: approvalViewSchema,
  /** Present when approved: the call to execute now. */
  call: approvalCallSchema.optional(),
  /** The re-check's decision (approved or denied by a changed policy). */
  decision: decisionSchema.optional(),
});
export type ApprovalResolution = z.infer<typeof approvalResolutionSchema>;

export const APPROVAL_COMPLETE_SUBJECT = 'gw.policy.approval_complete.v1';
export const approvalCompleteSchema = z.object({
  approval_id: z.uuid(),
  status: z.enum(['executed', 'failed']),
  outcome: approvalOutcomeSchema,
});
