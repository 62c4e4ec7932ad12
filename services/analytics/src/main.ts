import 'reflect-metadata';
import { MessagingModule } from '@sg/messaging';
import { runService } from '@sg/runtime';
import { loadAnalyticsEnv } from './config/env.js';

// Rule suggestions and shadow-vs-live diffs come later; for now the service starts, joins
// NATS and answers its health checks over NATS and HTTP.
const env = loadAnalyticsEnv();
await runService({
  service: 'analytics',
  env,
  port: env.HEALTH_PORT,
  imports: [MessagingModule.forRoot({ service: 'analytics', publishesEvents: false })],
});
