import { baseEnvSchema, envSchemas, parseEnv, redisEnvSchema } from '@sg/config';
import { z } from 'zod';

export const policyEnvSchema = baseEnvSchema.extend(redisEnvSchema.shape).extend({
  HEALTH_PORT: envSchemas.port.default(8091),
});
export type PolicyEnv = z.infer<typeof policyEnvSchema>;

export function loadPolicyEnv(env: NodeJS.ProcessEnv = process.env): PolicyEnv {
  return parseEnv(policyEnvSchema, env);
}
