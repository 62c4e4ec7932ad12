import 'reflect-metadata';
import { MessagingModule } from '@sg/messaging';
import { runService } from '@sg/runtime';
import { loadFederationEnv } from './config/env.js';

// Peer forwarding (/forward, trusted_peers.yaml) comes later; for now the service starts,
// joins NATS and answers its health checks over NATS and HTTP.
const env = loadFederationEnv();
await runService({
  service: 'federation',
  env,
  port: env.FEDERATION_PORT,
  imports: [MessagingModule.forRoot({ service: 'federation', publishesEvents: false })],
});
