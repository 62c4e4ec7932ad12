import {
  baseEnvSchema,
  envSchemas,
  jsonBodyEnvSchema,
  parseEnv,
  redisEnvSchema,
  secretsDirRequired,
  secretsEnvSchema,
} from '@sg/config';
import { z } from 'zod';

export const federationEnvSchema = baseEnvSchema
  .extend(redisEnvSchema.shape)
  .extend(jsonBodyEnvSchema.shape)
  // The peers' shared keys and this gateway's signing key (`{{secret:NAME}}` in trusted_peers.yaml).
  .extend(secretsEnvSchema.shape)
  .extend({
    /** The federation service's own HTTP port: peers call POST /forward here. */
    FEDERATION_PORT: envSchemas.port.default(8094),
    /** Largest /forward body. */
    BODY_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(10 * 1024 * 1024)
      .default(256 * 1024),
    /** Largest answer read from a peer (a forwarded call's result, a catalogue). */
    PEER_ANSWER_LIMIT_BYTES: z.coerce
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(10 * 1024 * 1024),
    /** How often each peer is pinged (signed GET /federation/ping); 0 turns the pings off. */
    FEDERATION_PING_INTERVAL_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
    /** Development only: lets trusted_peers.yaml hold a peer's key inline (warned about at every load). */
    FEDERATION_ALLOW_INLINE_KEYS: envSchemas.bool.default(false),
    /** Lets a peer's url be plain http to a host other than loopback (not for production). */
    FEDERATION_ALLOW_HTTP: envSchemas.bool.default(false),
  })
  .refine(...secretsDirRequired);
export type FederationEnv = z.infer<typeof federationEnvSchema>;

export function loadFederationEnv(env: NodeJS.ProcessEnv = process.env): FederationEnv {
  return parseEnv(federationEnvSchema, env);
}
