import { baseEnvSchema, envSchemas, parseEnv } from '@sg/config';
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
    /** Where `{{secret:NAME}}` is looked up: environment variables, or a directory of files. */
    SECRETS_PROVIDER: z.enum(['env', 'dir']).default('env'),
    /** env provider: secret NAME is the variable `<prefix>NAME`. */
    SECRETS_ENV_PREFIX: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'letters, digits and _ only')
      .default('SECRET_'),
    /** dir provider: one file per secret, named after it (as Kubernetes mounts a Secret). */
    SECRETS_DIR: z.string().min(1).optional(),
  })
  .refine((e) => e.SECRETS_PROVIDER !== 'dir' || e.SECRETS_DIR !== undefined, {
    message: 'SECRETS_PROVIDER=dir needs SECRETS_DIR',
    path: ['SECRETS_DIR'],
  });
export type ExecutorEnv = z.infer<typeof executorEnvSchema>;

export function loadExecutorEnv(env: NodeJS.ProcessEnv = process.env): ExecutorEnv {
  return parseEnv(executorEnvSchema, env);
}

/**
 * The secrets the env provider may hand out: every `<prefix>NAME` variable, as NAME → value,
 * read once at start. Kept apart from ExecutorEnv, which is injected everywhere as ENV.
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
