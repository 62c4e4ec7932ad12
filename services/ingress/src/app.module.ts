import { Module } from '@nestjs/common';
import { AuditController } from './admin/audit.controller.js';
import { TraceController } from './admin/trace.controller.js';
import { ApprovalsController } from './approvals/approvals.controller.js';
import { AgentAuthService } from './auth/agent-auth.service.js';
import { IdempotencyService, idempotencyRedisProvider } from './idempotency/idempotency.service.js';
import { GatewayHealthController } from './health/health.controller.js';
import { SchemaController } from './toolcall/schema.controller.js';
import { ToolCallController } from './toolcall/toolcall.controller.js';
import { ToolCallService } from './toolcall/toolcall.service.js';

@Module({
  controllers: [ToolCallController, SchemaController, TraceController, AuditController, ApprovalsController, GatewayHealthController],
  providers: [AgentAuthService, ToolCallService, idempotencyRedisProvider, IdempotencyService],
})
export class IngressModule {}
