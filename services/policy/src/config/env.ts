import {
  baseEnvSchema,
  envSchemas,
  parseEnv,
  postgresEnvSchema,
  redisEnvSchema,
  secretsDirRequired,
  secretsEnvSchema,
} from '@sg/config';
import { z } from 'zod';

export const policyEnvSchema = baseEnvSchema
  .extend(redisEnvSchema.shape)
  .extend(postgresEnvSchema.shape)
  // The policy signing key (POLICY_SIGNING_SECRET).
  .extend(secretsEnvSchema.shape)
  .extend({
    HEALTH_PORT: envSchemas.port.default(8091),
    /** How long a call may wait for a person's approval before it expires. */
    APPROVAL_TTL_S: z.coerce
      .number()
      .int()
      .min(10)
      .max(7 * 86_400)
      .default(900),
    /** How often pending approvals past their expiry are marked expired (and audited). */
    APPROVAL_SWEEP_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
    /** The secret (secret provider name) holding the Ed25519 key that signs policy versions. */
    POLICY_SIGNING_SECRET: z
      .string()
      .regex(/^[A-Za-z0-9_]+$/)
      .default('POLICY_SIGNING_KEY'),
    /**
     * Write a version saved through the API (or rolled back) to its file in CONFIG_DIR too. Off
     * by default: Kubernetes ConfigMaps are read-only, and the versions are active without it.
     */
    FILE_WRITEBACK: envSchemas.bool.default(false),
    /** The id recorded with each signature (rotate it with the key). */
    POLICY_SIGNING_KEY_ID: z.string().min(1).max(64).default('policy-1'),
  })
  .refine(...secretsDirRequired);
export type PolicyEnv = z.infer<typeof policyEnvSchema>;

export function loadPolicyEnv(env: NodeJS.ProcessEnv = process.env): PolicyEnv {
  return parseEnv(policyEnvSchema, env);
}
