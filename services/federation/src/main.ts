import 'reflect-metadata';
import { MessagingModule, startBusHandlers } from '@sg/messaging';
import { createRequire } from 'node:module';
import { runService, serveOpenApi, useLimitedJson } from '@sg/runtime';
import { loadFederationEnv } from './config/env.js';
import { ForwardModule } from './forward/forward.module.js';
import { federationOpenApi } from './routes.js';

// Trusted peer gateways (trusted_peers.yaml; docs/federation.md): inbound POST /forward,
// GET /federation/tools and /federation/ping on FEDERATION_PORT; outbound calls, catalogues and
// peer health for the ingress over NATS.
const env = loadFederationEnv();
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
await runService({
  service: 'federation',
  env,
  port: env.FEDERATION_PORT,
  microservices: startBusHandlers,
  fastify: { bodyLimit: env.BODY_LIMIT_BYTES },
  imports: [
    MessagingModule.forRoot({
      service: 'federation',
      publishesEvents: true,
      config: { announce: false },
    }),
    ForwardModule,
  ],
  configure: (app) => {
    useLimitedJson(app, {
      maxDepth: env.JSON_MAX_DEPTH,
      maxKeys: env.JSON_MAX_KEYS,
      maxString: env.JSON_MAX_STRING,
    });
    serveOpenApi(app, federationOpenApi(version));
  },
});
