import { z } from 'zod';

// An empty variable counts as unset, as in a shell's `SG_PROJECT_ID= node server.mjs`.
const unsetIfEmpty = (v: unknown) => (v === '' ? undefined : v);

const gatewayEnvSchema = z.object({
  /** The gateway's ingress, e.g. https://gw.example.com. */
  SG_GATEWAY_URL: z.preprocess(
    unsetIfEmpty,
    z.url({ protocol: /^https?$/, error: 'use an http(s) URL' }).optional(),
  ),
  /** This server's agent key (a model_keys entry of the gateway). */
  SG_API_KEY: z.preprocess(unsetIfEmpty, z.string().optional()),
  /** The gateway project (X-Project-ID); unset: the gateway's `default`. */
  SG_PROJECT_ID: z.preprocess(unsetIfEmpty, z.string().optional()),
});

export interface GatewayEnv {
  url: string | undefined;
  apiKey: string | undefined;
  project: string | undefined;
}

/**
 * The only place the SDK reads the environment. A bad value is named in the error, never shown
 * (a URL may hold credentials, the key is one).
 */
export function gatewayFromEnv(env: NodeJS.ProcessEnv = process.env): GatewayEnv {
  const parsed = gatewayEnvSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new Error(`@sg/sdk: invalid environment: ${issues.join('; ')}`);
  }
  return {
    url: parsed.data.SG_GATEWAY_URL,
    apiKey: parsed.data.SG_API_KEY,
    project: parsed.data.SG_PROJECT_ID,
  };
}
