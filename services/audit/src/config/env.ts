import { baseEnvSchema, envSchemas, parseEnv, postgresEnvSchema, redisEnvSchema } from '@sg/config';
import { z } from 'zod';

const optionalText = z.preprocess((v) => (v === '' ? undefined : v), z.string().min(1).optional());

export const auditEnvSchema = baseEnvSchema
  .extend(postgresEnvSchema.shape)
  .extend(redisEnvSchema.shape)
  .extend({
    HEALTH_PORT: envSchemas.port.default(8093),
    /** Durable consumer name; every audit instance shares it, so JetStream splits the work. */
    AUDIT_CONSUMER: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('audit'),
    AUDIT_BATCH_SIZE: z.coerce.number().int().min(1).max(5000).default(500),
    AUDIT_FLUSH_MS: z.coerce.number().int().min(1).max(5000).default(20),

    /** Ed25519 private key (PKCS#8 PEM file) that signs checkpoints; without it, none are made. */
    AUDIT_SIGNING_KEY_FILE: optionalText,
    /** How often each project's chain head is signed (when it moved). */
    AUDIT_CHECKPOINT_MS: z.coerce.number().int().min(100).max(86_400_000).default(60_000),
    /**
     * How long one GET /api/audit/verify walks before it answers with a cursor to continue; below
     * the ingress's 60 s wait for the answer.
     */
    AUDIT_VERIFY_BUDGET_MS: z.coerce.number().int().min(100).max(50_000).default(20_000),

    /**
     * Monthly partitions of audit_events whose whole month is older than this many days are
     * dropped, once a signed checkpoint covers their rows. 0 keeps everything.
     */
    AUDIT_RETENTION_DAYS: z.coerce.number().int().min(0).max(36_500).default(0),

    /** Durable consumer of the anomaly detectors (shared by every audit instance). */
    ANOMALY_CONSUMER: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/)
      .default('anomaly'),

    /** SIEM webhook (seed 002). Alerts are POSTed there in SIEM_FORMAT. */
    SIEM_URL: optionalText.pipe(z.url().optional()),
    SIEM_FORMAT: z.enum(['json', 'ocsf', 'splunk_hec']).default('json'),
    /** Splunk HEC token (sent as `Authorization: Splunk <token>`) or a bearer token for the webhook. Never logged. */
    SIEM_TOKEN: optionalText,
    /** CEF over syslog: udp://host:port or tcp://host:port. */
    SIEM_SYSLOG_URL: optionalText.pipe(
      z
        .string()
        .regex(/^(udp|tcp):\/\/[^/:]+:\d{1,5}$/, 'use udp://host:port or tcp://host:port')
        .optional(),
    ),
    /** Outbox: first retry after SIEM_RETRY_BASE_MS, doubling up to SIEM_RETRY_MAX_MS. */
    SIEM_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(1000),
    SIEM_RETRY_MAX_MS: z.coerce.number().int().min(10).max(3_600_000).default(60_000),
    SIEM_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
    SIEM_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  })
  .superRefine((e, ctx) => {
    if (e.SIEM_URL && e.SIEM_FORMAT === 'splunk_hec' && !e.SIEM_TOKEN) {
      ctx.addIssue({
        code: 'custom',
        path: ['SIEM_TOKEN'],
        message: 'SIEM_FORMAT=splunk_hec needs SIEM_TOKEN (the HEC token)',
      });
    }
  });
export type AuditEnv = z.infer<typeof auditEnvSchema>;

export function loadAuditEnv(env: NodeJS.ProcessEnv = process.env): AuditEnv {
  return parseEnv(auditEnvSchema, env);
}

/** The SIEM sinks alerts are queued for: `webhook` (SIEM_URL) and `syslog` (SIEM_SYSLOG_URL). */
export type SiemSink = 'webhook' | 'syslog';
export function siemSinks(env: Pick<AuditEnv, 'SIEM_URL' | 'SIEM_SYSLOG_URL'>): SiemSink[] {
  const sinks: SiemSink[] = [];
  if (env.SIEM_URL) sinks.push('webhook');
  if (env.SIEM_SYSLOG_URL) sinks.push('syslog');
  return sinks;
}

/** `npm run audit:verify`: PostgreSQL, and the key the checkpoints verify with. */
export const verifyCliEnvSchema = z.object({
  ...postgresEnvSchema.shape,
  /** Ed25519 public key (SPKI PEM); or the signing key, from which the public key is derived. */
  AUDIT_PUBLIC_KEY_FILE: optionalText,
  AUDIT_SIGNING_KEY_FILE: optionalText,
});
export type VerifyCliEnv = z.infer<typeof verifyCliEnvSchema>;

export function loadVerifyCliEnv(env: NodeJS.ProcessEnv = process.env): VerifyCliEnv {
  return parseEnv(verifyCliEnvSchema, env);
}
