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
