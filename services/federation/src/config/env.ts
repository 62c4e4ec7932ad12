import { baseEnvSchema, envSchemas, parseEnv } from '@sg/config';
import type { z } from 'zod';

export const federationEnvSchema = baseEnvSchema.extend({
  /** The federation service's own HTTP port (peers will call POST /forward here). */
  FEDERATION_PORT: envSchemas.port.default(8094),
});
export type FederationEnv = z.infer<typeof federationEnvSchema>;

export function loadFederationEnv(env: NodeJS.ProcessEnv = process.env): FederationEnv {
  return parseEnv(federationEnvSchema, env);
}
