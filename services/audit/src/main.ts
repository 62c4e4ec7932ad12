import 'reflect-metadata';
import { MessagingModule, startBusHandlers } from '@sg/messaging';
import { runService } from '@sg/runtime';
import { AuditModule } from './audit.module.js';
import { loadAuditEnv } from './config/env.js';

const env = loadAuditEnv();
await runService({
  service: 'audit',
  env,
  port: env.HEALTH_PORT,
  microservices: startBusHandlers,
  imports: [
    MessagingModule.forRoot({
      service: 'audit',
      publishesEvents: true,
      config: { announce: false, versions: true },
    }),
    AuditModule,
  ],
});
