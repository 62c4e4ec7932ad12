import { Module } from '@nestjs/common';
import { ENV } from '@sg/runtime';
import { type ExecutorEnv, loadSecretEnv } from '../config/env.js';
import { UpstreamResilience } from '../resilience/index.js';
import { createSecretProvider, SECRET_PROVIDER } from '../secrets/index.js';
import { ExecutionController } from './execution.controller.js';
import { ExecutionService } from './execution.service.js';

@Module({
  controllers: [ExecutionController],
  providers: [
    {
      // Swap this provider for a vault-backed SecretProvider to use one.
      provide: SECRET_PROVIDER,
      inject: [ENV],
      useFactory: (env: ExecutorEnv) =>
        createSecretProvider(
          env,
          env.SECRETS_PROVIDER === 'env' ? loadSecretEnv(env.SECRETS_ENV_PREFIX) : {},
        ),
    },
    UpstreamResilience,
    ExecutionService,
  ],
})
export class ExecutionModule {}
