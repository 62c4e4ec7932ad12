import { z } from 'zod';
import { projectIdSchema } from '../common.js';

/** The per-project files that are versioned and linted: `<kind>/<project>.yaml`. */
export const policyKindSchema = z.enum(['policies', 'contextual_policies', 'model_keys']);
export type PolicyKind = z.infer<typeof policyKindSchema>;

/** Most YAML a policy endpoint reads (lint, save, proposals). */
export const POLICY_YAML_MAX_BYTES = 128 * 1024;

/** POST /api/policy/lint: a file's YAML, checked as the gateway would load it, never saved. */
export const lintRequestSchema = z.strictObject({
  project: projectIdSchema,
  kind: policyKindSchema,
  yaml: z.string().max(POLICY_YAML_MAX_BYTES, `at most ${POLICY_YAML_MAX_BYTES} bytes of YAML`),
});

/** One problem of a file: where it is (1-based line and column, null if the whole file) and why. */
export const lintProblemSchema = z.object({
  file: z.string(),
  line: z.number().int().nullable(),
  column: z.number().int().nullable(),
  reason: z.string(),
});
export type LintProblem = z.infer<typeof lintProblemSchema>;

/** Where a version came from: an edited file, the API, an approved proposal, a rollback. */
export const versionSourceSchema = z.enum(['file', 'api', 'proposal', 'rollback']);

/** A version as listed: everything but its content. */
export const policyVersionSchema = z.object({
  id: z.uuid(),
  project: z.string(),
  kind: policyKindSchema,
  sha256: z.string(),
  parent_id: z.uuid().nullable(),
  author: z.string(),
  source: versionSourceSchema,
  reason: z.string(),
  created_at: z.string(),
  /** The signing key's id; null for a version stored while no key was configured. */
  key_id: z.string().nullable(),
  /** Whether its signature verifies now (key, fields and content digest). */
  verified: z.boolean(),
  /**
   * The base64 Ed25519 signature of its signed fields (docs/policy-versions.md), to check
   * without trusting the gateway (`sg policy verify --public-key`); null when unsigned.
   */
  signature: z.string().nullable(),
});
export type PolicyVersion = z.infer<typeof policyVersionSchema>;

/** ingress → policy: the public key new versions are signed with. */
export const POLICY_SIGNING_KEY_SUBJECT = 'gw.policy.signing_key.v1';
export const signingKeyQuerySchema = z.object({});
export const signingKeySchema = z.object({
  /** null while versions are stored unsigned (no signing secret configured). */
  key_id: z.string().nullable(),
  algorithm: z.literal('Ed25519'),
  /** The public key as SPKI PEM; null while versions are stored unsigned. */
  public_key_pem: z.string().nullable(),
});
export type SigningKey = z.infer<typeof signingKeySchema>;

/** ingress → policy: a project's versions, newest first. */
export const POLICY_HISTORY_SUBJECT = 'gw.policy.history.v1';
export const historyQuerySchema = z.object({
  project: projectIdSchema,
  kind: policyKindSchema.optional(),
  cursor: z.string().max(64).optional(),
  limit: z.number().int().min(1).max(200).default(50),
});
export const historyPageSchema = z.object({
  versions: z.array(policyVersionSchema),
  next_cursor: z.string().nullable(),
});

/** ingress → policy: one version, its content, and a unified diff against its parent. */
export const POLICY_VERSION_SUBJECT = 'gw.policy.version.v1';
export const versionQuerySchema = z.object({ id: z.uuid() });
export const versionDetailSchema = policyVersionSchema.extend({
  content: z.string(),
  /** Unified diff from the parent's content (or from nothing, for a first version). */
  diff: z.string(),
});

/** A version that overrides its file: its content is what every instance runs. */
export const activeVersionSchema = z.object({
  id: z.uuid(),
  project: z.string(),
  kind: policyKindSchema,
  content: z.string(),
});
export type ActiveVersion = z.infer<typeof activeVersionSchema>;

/**
 * any service → policy: the versions that override the config directory's files (the newest
 * version of a project and kind when it was saved through the API, rolled back or proposed, and
 * its signature verifies). Every ConfigSync applies them over the files.
 */
export const POLICY_ACTIVE_SUBJECT = 'gw.policy.active.v1';
export const activeQuerySchema = z.object({});
export const activeVersionsSchema = z.object({ versions: z.array(activeVersionSchema) });

/** ingress → policy: a new version (linted by the ingress), active on every instance once stored. */
export const POLICY_SAVE_SUBJECT = 'gw.policy.save.v1';
export const saveRequestSchema = z.object({
  project: projectIdSchema,
  kind: policyKindSchema,
  content: z.string().max(POLICY_YAML_MAX_BYTES),
  author: z.string().min(1).max(128),
  reason: z.string().max(1000),
});
/** `created` false: the newest version already had this content; nothing changed. */
export const savedSchema = z.object({ version: policyVersionSchema, created: z.boolean() });

/** ingress → policy: a version of `project`'s history made the newest again, as a new version. */
export const POLICY_ROLLBACK_SUBJECT = 'gw.policy.rollback.v1';
export const rollbackRequestSchema = z.object({
  id: z.uuid(),
  project: projectIdSchema,
  author: z.string().min(1).max(128),
  reason: z.string().max(1000),
});
