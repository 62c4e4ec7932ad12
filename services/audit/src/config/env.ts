import { baseEnvSchema, envSchemas, parseEnv, postgresEnvSchema } from '@sg/config';
import { z } from 'zod';

export const auditEnvSchema = baseEnvSchema.extend(postgresEnvSchema.shape).extend({
  HEALTH_PORT: envSchemas.port.default(8093),
  /** Durable consumer name; every audit instance shares it, so JetStream splits the work. */
  AUDIT_CONSUMER: z.string().regex(/^[A-Za-z0-9_-]+$/).default('audit'),
  AUDIT_BATCH_SIZE: z.coerce.number().int().min(1).max(5000).default(500),
  AUDIT_FLUSH_MS: z.coerce.number().int().min(1).max(5000).default(20),
});
export type AuditEnv = z.infer<typeof auditEnvSchema>;

export function loadAuditEnv(env: NodeJS.ProcessEnv = process.env): AuditEnv {
  return parseEnv(auditEnvSchema, env);
}
