import { baseEnvSchema, envSchemas, parseEnv } from '@sg/config';
import type { z } from 'zod';

export const analyticsEnvSchema = baseEnvSchema.extend({
  HEALTH_PORT: envSchemas.port.default(8095),
});
export type AnalyticsEnv = z.infer<typeof analyticsEnvSchema>;

export function loadAnalyticsEnv(env: NodeJS.ProcessEnv = process.env): AnalyticsEnv {
  return parseEnv(analyticsEnvSchema, env);
}
