import { Module } from '@nestjs/common';
import { ExecutionHandler } from './execution.handler.js';
import { ExecutionService } from './execution.service.js';

@Module({ providers: [ExecutionService, ExecutionHandler] })
export class ExecutionModule {}
