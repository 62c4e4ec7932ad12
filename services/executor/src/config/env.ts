import {
  baseEnvSchema,
  envSchemas,
  parseEnv,
  secretsDirRequired,
  secretsEnvSchema,
} from '@sg/config';
import { z } from 'zod';

export const executorEnvSchema = baseEnvSchema
  .extend({
    HEALTH_PORT: envSchemas.port.default(8092),
    /**
     * Largest upstream response accepted, in bytes; larger answers are an upstream error. It must
     * fit in one NATS message (max_payload, 1 MiB by default) with room for the envelope.
     */
    MAX_RESPONSE_BYTES: z.coerce
      .number()
      .int()
      .positive()
      .default(512 * 1024),
  })
  .extend(secretsEnvSchema.shape)
  .refine(...secretsDirRequired);
export type ExecutorEnv = z.infer<typeof executorEnvSchema>;

export function loadExecutorEnv(env: NodeJS.ProcessEnv = process.env): ExecutorEnv {
  return parseEnv(executorEnvSchema, env);
}
