import { baseEnvSchema, envSchemas, parseEnv, postgresEnvSchema } from '@sg/config';
import { z } from 'zod';

export const analyticsEnvSchema = baseEnvSchema.extend(postgresEnvSchema.shape).extend({
  HEALTH_PORT: envSchemas.port.default(8095),
  /** Durable consumer name; every analytics instance shares it, so JetStream splits the work. */
  ANALYTICS_CONSUMER: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('analytics'),
  ANALYTICS_BATCH_SIZE: z.coerce.number().int().min(1).max(5000).default(2000),
  ANALYTICS_FLUSH_MS: z.coerce.number().int().min(1).max(5000).default(500),
  /** How long the ids of counted events are kept (a redelivery older than this would count twice). */
  ANALYTICS_DEDUPE_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  /** Suggestions: more denials than this of one tool for one agent suggest an explicit deny (seed 000). */
  SUGGEST_MIN_DENIALS: z.coerce.number().int().min(1).max(1_000_000).default(5),
  /** Suggestions: key-scope refusals of one tool for one model before a candidate grant is suggested. */
  SUGGEST_MIN_SCOPE_REFUSALS: z.coerce.number().int().min(1).max(1_000_000).default(5),
  /** Suggestions: 429s of one agent before its limit is called a hot spot. */
  SUGGEST_MIN_RATE_HITS: z.coerce.number().int().min(1).max(1_000_000).default(10),
  /** Suggestions: a limit whose peak use stayed under this share of it was never approached. */
  SUGGEST_UNUSED_LIMIT_SHARE: z.coerce.number().min(0.01).max(1).default(0.2),
  /** Suggestions: calls a limit must have counted before "never approached" means anything. */
  SUGGEST_MIN_LIMIT_CALLS: z.coerce.number().int().min(1).max(1_000_000).default(20),
});
export type AnalyticsEnv = z.infer<typeof analyticsEnvSchema>;

export function loadAnalyticsEnv(env: NodeJS.ProcessEnv = process.env): AnalyticsEnv {
  return parseEnv(analyticsEnvSchema, env);
}
