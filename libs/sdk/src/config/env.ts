/** Where the gateway is, from the environment: SG_GATEWAY_URL, SG_API_KEY, SG_PROJECT_ID. */
export function gatewayFromEnv(env: NodeJS.ProcessEnv = process.env) {
  return {
    url: env.SG_GATEWAY_URL,
    apiKey: env.SG_API_KEY,
    project: env.SG_PROJECT_ID || undefined,
  };
}
