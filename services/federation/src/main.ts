import 'reflect-metadata';
import { MessagingModule, startBusHandlers } from '@sg/messaging';
import { runService, useLimitedJson } from '@sg/runtime';
import { loadFederationEnv } from './config/env.js';
import { ForwardModule } from './forward/forward.module.js';

// Trusted peer gateways (trusted_peers.yaml; docs/federation.md): inbound POST /forward,
// GET /federation/tools and /federation/ping on FEDERATION_PORT; outbound calls, catalogues and
// peer health for the ingress over NATS.
const env = loadFederationEnv();
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
  configure: (app) =>
    useLimitedJson(app, {
      maxDepth: env.JSON_MAX_DEPTH,
      maxKeys: env.JSON_MAX_KEYS,
      maxString: env.JSON_MAX_STRING,
    }),
});
