import 'reflect-metadata';
import { MessagingModule, startBusHandlers } from '@sg/messaging';
import { runService } from '@sg/runtime';
import { IngressModule } from './app.module.js';
import { loadIngressEnv } from './config/env.js';
import { configureHttp } from './http/configure.js';

const env = loadIngressEnv();
await runService({
  service: 'ingress',
  env,
  port: env.PORT,
  fastify: { bodyLimit: env.BODY_LIMIT_BYTES },
  imports: [
    MessagingModule.forRoot({
      service: 'ingress',
      publishesEvents: true,
      config: { announce: false, versions: true },
    }),
    IngressModule,
  ],
  configure: configureHttp,
  microservices: startBusHandlers,
});
