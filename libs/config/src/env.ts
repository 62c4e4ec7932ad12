import { z } from 'zod';

export class EnvError extends Error {
  override name = 'EnvError';
}

/**
 * Parses the environment once, at start. A bad or missing variable stops the process with a
 * message that names it and says what it should look like.
 */
export function parseEnv<T extends z.ZodType>(
  schema: T,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<T> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    const value =
      name in env ? ` (got ${JSON.stringify(redactEnvValue(name, env[name]))})` : ' (not set)';
    return `  ${name}: ${issue.message}${value}`;
  });
  throw new EnvError(`invalid configuration:\n${lines.join('\n')}`);
}

function redactEnvValue(name: string, value: string | undefined) {
  return /KEY|SECRET|TOKEN|PASSWORD|URL/i.test(name) ? '<redacted>' : value;
}

const port = z.coerce.number().int().min(0).max(65535);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** Variables every service shares. Each service extends this with its own. */
export const baseEnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_PRETTY: bool.default(false),
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  /** Prefixes every subject and the stream name, so several gateways (or test runs) share one NATS. */
  SUBJECT_PREFIX: z
    .string()
    .regex(/^([a-zA-Z0-9_-]+)?$/, 'letters, digits, _ or - only')
    .default(''),
  /** Health probe port (GET /healthz); 0 disables it. */
  HEALTH_PORT: port.default(0),
  HOST: z.string().default('127.0.0.1'),
  CONFIG_DIR: z.string().min(1).default('config'),
  /** How often the config directory is checked for edits (ms); 0 turns hot reload off. */
  CONFIG_POLL_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  /** JetStream replicas of GW_EVENTS: 1 on a single NATS server, 3 on a production cluster. */
  EVENTS_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /**
   * Slow clients (slowloris): how long an HTTP request may take to arrive, headers and body,
   * before the server answers 408 and closes the socket. Only the request: an answer that
   * streams (SSE, MCP) is not cut by it.
   */
  HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(500).max(600_000).default(10_000),
  /** How long the headers alone may take; capped at HTTP_REQUEST_TIMEOUT_MS. */
  HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(500).max(600_000).default(5_000),
  /** How long a NATS request may take before the caller answers 503. */
  REQUEST_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(3000),
  /**
   * OpenTelemetry traces: `none` (the default) makes and sends no spans; `otlp` sends them to
   * OTEL_EXPORTER_OTLP_ENDPOINT (read by the exporter), `console` prints them.
   */
  OTEL_TRACES_EXPORTER: z.enum(['none', 'otlp', 'console']).default('none'),
  /** The standard samplers; unset: parent-based, 10 % of new traces. */
  OTEL_TRACES_SAMPLER: z
    .enum([
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
    ])
    .optional(),
  /** The ratio of the traceidratio samplers, 0 to 1. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
});

export const redisEnvSchema = z.object({
  REDIS_URL: z.string().min(1).default('redis://127.0.0.1:6379'),
  REDIS_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9_:.-]*$/, 'letters, digits and _ : . - only')
    .default('sg:'),
});

export const postgresEnvSchema = z.object({
  DATABASE_URL: z.string().min(1).default('postgres://postgres@127.0.0.1:5432/postgres'),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier')
    .default('securegateway'),
});

/** Limits of a JSON request body on a public HTTP port (ingress, federation). */
export const jsonBodyEnvSchema = z.object({
  /** Arrays and objects inside each other. */
  JSON_MAX_DEPTH: z.coerce.number().int().min(2).max(1000).default(64),
  /** Object keys in the whole body. */
  JSON_MAX_KEYS: z.coerce.number().int().min(10).max(1_000_000).default(10_000),
  /** Characters in one string, key or value. */
  JSON_MAX_STRING: z.coerce
    .number()
    .int()
    .min(64)
    .default(128 * 1024),
});

/** Where `{{secret:NAME}}` is looked up (executor: upstream secrets; ingress: agents' signing keys). */
export const secretsEnvSchema = z.object({
  /** Environment variables, or a directory of files. */
  SECRETS_PROVIDER: z.enum(['env', 'dir']).default('env'),
  /** env provider: secret NAME is the variable `<prefix>NAME`. */
  SECRETS_ENV_PREFIX: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'letters, digits and _ only')
    .default('SECRET_'),
  /** dir provider: one file per secret, named after it (as Kubernetes mounts a Secret). */
  SECRETS_DIR: z.string().min(1).optional(),
});

/**
 * The secrets the env provider may hand out: every `<prefix>NAME` variable, as NAME → value,
 * read once at start. Kept apart from the service's env, which is injected everywhere as ENV.
 */
export function loadSecretEnv(
  prefix: string,
  env: NodeJS.ProcessEnv = process.env,
): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(prefix) || value === undefined) continue;
    const name = key.slice(prefix.length);
    if (/^[A-Za-z0-9_]+$/.test(name)) out[name] = value;
  }
  return Object.freeze(out);
}

/** `.refine(...secretsDirRequired)` on a schema that extends secretsEnvSchema. */
export const secretsDirRequired: [
  (e: { SECRETS_PROVIDER: 'env' | 'dir'; SECRETS_DIR?: string | undefined }) => boolean,
  { message: string; path: string[] },
] = [
  (e) => e.SECRETS_PROVIDER !== 'dir' || e.SECRETS_DIR !== undefined,
  { message: 'SECRETS_PROVIDER=dir needs SECRETS_DIR', path: ['SECRETS_DIR'] },
];

export const envSchemas = { port, bool };
