import { z } from 'zod';

export const globList = z.array(z.string().min(1).max(200));

/** A key id (the `keyid` of a signature): letters, digits and . _ : - (1-128). */
export const keyIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'letters, digits and . _ : - (1-128)');

/** `{{secret:NAME}}` as the whole value: a secret the service looks up, never the secret itself. */
export const SECRET_REFERENCE = /^\{\{secret:[A-Za-z0-9_]+\}\}$/;

/** How every upstream is protected, whatever its transport. */
export const resilienceShape = {
  timeout_ms: z.number().int().min(1).max(120_000).default(5000),
  /** Calls in flight at once from one executor; more wait for a slot until their timeout. */
  max_concurrency: z.number().int().min(1).max(10_000).default(64),
  /** Retries after a failure, only for tools marked idempotent. */
  retries: z.number().int().min(0).max(5).default(2),
  /** Consecutive failures that open the breaker, and how long it stays open. */
  circuit_breaker: z
    .strictObject({
      failure_threshold: z.number().int().min(1).max(1000).default(5),
      reset_after_ms: z.number().int().min(100).max(600_000).default(30_000),
    })
    .prefault({}),
  /**
   * Link-local and cloud-metadata addresses are refused unless this is true (so are the
   * unspecified addresses 0.0.0.0 and ::). Loopback and private (RFC 1918) ranges are allowed.
   */
  allow_link_local: z.boolean().default(false),
};
