import { z } from 'zod';
import { idSchema, projectIdSchema } from '../common.js';
import { policyVersionSchema } from './versions.js';

/** Most YAML a proposal may hold. */
export const PROPOSAL_YAML_MAX_BYTES = 64 * 1024;

export const guardrailResultSchema = z.object({
  name: z.string(),
  pass: z.boolean(),
  why: z.string(),
});

export const proposalStatusSchema = z.enum(['pending', 'approved', 'rejected']);

/** A policy proposal (seed 001, docs/proposals.md). */
export const proposalSchema = z.object({
  proposal_id: z.uuid(),
  project: z.string(),
  /** Whose rules it proposes. */
  model_id: z.string(),
  /** Who proposed it: the agent, or the admin principal. */
  proposer: z.string(),
  via: z.enum(['agent', 'admin']),
  yaml: z.string(),
  justification: z.string(),
  guardrails: z.array(guardrailResultSchema),
  status: proposalStatusSchema,
  auto_approved: z.boolean(),
  /** The policy version it became, once approved. */
  version_id: z.uuid().nullable(),
  reviewer: z.string().nullable(),
  comment: z.string().nullable(),
  created_at: z.string(),
  resolved_at: z.string().nullable(),
});
export type Proposal = z.infer<typeof proposalSchema>;

/** ingress → policy: a proposal, parsed, checked against the guardrails, stored. */
export const POLICY_PROPOSE_SUBJECT = 'gw.policy.propose.v1';
export const proposeRequestSchema = z.object({
  project: projectIdSchema,
  model_id: idSchema,
  proposer: z.string().min(1).max(128),
  via: z.enum(['agent', 'admin']),
  yaml: z.string().max(PROPOSAL_YAML_MAX_BYTES),
  justification: z.string().max(4000),
});
export const proposedSchema = z.object({
  proposal: proposalSchema,
  /** The version it became at once (auto-approved). */
  version: policyVersionSchema.nullable(),
});

/** ingress → policy: the review queue. */
export const POLICY_PROPOSALS_SUBJECT = 'gw.policy.proposals.v1';
export const proposalsQuerySchema = z.object({
  project: projectIdSchema.optional(),
  status: proposalStatusSchema.optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export const proposalsPageSchema = z.object({ proposals: z.array(proposalSchema) });

/** ingress → policy: one proposal, with the diff it would make to the active policy now. */
export const POLICY_PROPOSAL_GET_SUBJECT = 'gw.policy.proposal_get.v1';
export const proposalGetSchema = z.object({ id: z.uuid() });
export const proposalDetailSchema = proposalSchema.extend({
  diff: z.string(),
  /** The active policy with the proposal merged in; null when it no longer merges. */
  merged: z.string().nullable(),
});

/** ingress → policy: approve (merged into a new signed version) or reject a pending proposal. */
export const POLICY_PROPOSAL_RESOLVE_SUBJECT = 'gw.policy.proposal_resolve.v1';
export const proposalResolveSchema = z.object({
  id: z.uuid(),
  approve: z.boolean(),
  reviewer: z.string().min(1).max(128),
  comment: z.string().max(2000),
  four_eyes: z.boolean().default(true),
});

/** policy: a proposal was made, or resolved. Signed with the policy signing key. */
export const POLICY_PROPOSAL_EVENT = 'gw.evt.policy.proposal.v1';
export const proposalEventSchema = proposalSchema.extend({
  key_id: z.string().nullable(),
  signature: z.string().nullable(),
});
