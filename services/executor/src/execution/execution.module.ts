import { Module } from '@nestjs/common';
import { secretProviderProvider } from '@sg/runtime';
import { UpstreamResilience } from '../resilience/index.js';
import { ExecutionController } from './execution.controller.js';
import { ExecutionService } from './execution.service.js';

@Module({
  controllers: [ExecutionController],
  providers: [secretProviderProvider, UpstreamResilience, ExecutionService],
})
export class ExecutionModule {}
