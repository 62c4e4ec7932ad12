import { baseEnvSchema, envSchemas, parseEnv, postgresEnvSchema, redisEnvSchema } from '@sg/config';
import { z } from 'zod';

export const policyEnvSchema = baseEnvSchema
  .extend(redisEnvSchema.shape)
  .extend(postgresEnvSchema.shape)
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
  });
export type PolicyEnv = z.infer<typeof policyEnvSchema>;

export function loadPolicyEnv(env: NodeJS.ProcessEnv = process.env): PolicyEnv {
  return parseEnv(policyEnvSchema, env);
}
