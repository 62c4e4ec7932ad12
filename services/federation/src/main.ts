import 'reflect-metadata';
import { MessagingModule } from '@sg/messaging';
import { runService, useLimitedJson } from '@sg/runtime';
import { loadFederationEnv } from './config/env.js';
import { ForwardModule } from './forward/forward.module.js';

// Inbound POST /forward from trusted peers (trusted_peers.yaml); see docs/federation.md.
const env = loadFederationEnv();
await runService({
  service: 'federation',
  env,
  port: env.FEDERATION_PORT,
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
