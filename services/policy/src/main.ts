import 'reflect-metadata';
import { MessagingModule, startBusHandlers } from '@sg/messaging';
import { runService } from '@sg/runtime';
import { loadPolicyEnv } from './config/env.js';
import { DecisionModule } from './decision/decision.module.js';

const env = loadPolicyEnv();
await runService({
  service: 'policy',
  env,
  port: env.HEALTH_PORT,
  microservices: startBusHandlers,
  imports: [
    MessagingModule.forRoot({
      service: 'policy',
      publishesEvents: true,
      config: { announce: true, versions: true },
    }),
    DecisionModule,
  ],
});
