import 'reflect-metadata';
import { MessagingModule, startBusHandlers } from '@sg/messaging';
import { runService } from '@sg/runtime';
import { loadExecutorEnv } from './config/env.js';
import { ExecutionModule } from './execution/execution.module.js';

const env = loadExecutorEnv();
await runService({
  service: 'executor',
  env,
  port: env.HEALTH_PORT,
  microservices: startBusHandlers,
  imports: [
    MessagingModule.forRoot({
      service: 'executor',
      publishesEvents: true,
      config: { announce: false, versions: true },
    }),
    ExecutionModule,
  ],
});
