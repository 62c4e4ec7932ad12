import 'reflect-metadata';
import { MessagingModule, startBusHandlers } from '@sg/messaging';
import { runService } from '@sg/runtime';
import { AnalyticsModule } from './analytics.module.js';
import { loadAnalyticsEnv } from './config/env.js';

const env = loadAnalyticsEnv();
await runService({
  service: 'analytics',
  env,
  port: env.HEALTH_PORT,
  microservices: startBusHandlers,
  imports: [
    MessagingModule.forRoot({
      service: 'analytics',
      publishesEvents: false,
      // The live policy (with its stored versions) is what simulations default to.
      config: { announce: false, versions: true },
    }),
    AnalyticsModule,
  ],
});
