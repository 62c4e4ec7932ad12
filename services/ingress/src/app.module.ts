import { Module } from '@nestjs/common';
import { PolicyEngineModule } from '@sg/policy-engine';
import { secretProviderProvider } from '@sg/runtime';
import { AuditController } from './admin/audit.controller.js';
import { AuditFeed } from './admin/audit-feed.js';
import { AuditStreamController } from './admin/audit-stream.controller.js';
import { AdminAuth } from './admin/admin-auth.js';
import { PeersController } from './admin/peers.controller.js';
import { PolicyController } from './admin/policy.controller.js';
import { ProposalsController } from './admin/proposals.controller.js';
import { AnalyticsController } from './admin/analytics.controller.js';
import { DashSessionController } from './admin/dash-session.controller.js';
import { DashSessions } from './admin/dash-sessions.js';
import { AdminAnswers } from './admin/admin-answers.js';
import { TraceController } from './admin/trace.controller.js';
import { ApprovalsController } from './approvals/approvals.controller.js';
import { AgentAuthService } from './auth/agent-auth.service.js';
import { OAuthTokens } from './auth/oauth.js';
import { OAuthMetadataController } from './auth/oauth.controller.js';
import { RemoteTools } from './federation/remote-tools.js';
import { PluginHost } from './plugins/plugin-host.js';
import { IdempotencyService } from './idempotency/idempotency.service.js';
import { GatewayHealthController } from './health/health.controller.js';
import { ErrorAnswers } from './http/error-answer.js';
import { McpController } from './mcp/mcp.controller.js';
import { McpService } from './mcp/mcp.service.js';
import { McpSessions } from './mcp/mcp-sessions.js';
import { McpStreams } from './mcp/mcp-streams.js';
import { SdkController } from './sdk/sdk.controller.js';
import { SchemaController } from './toolcall/schema.controller.js';
import { GovernController } from './toolcall/govern.controller.js';
import { ToolCallController } from './toolcall/toolcall.controller.js';
import { ToolCallService } from './toolcall/toolcall.service.js';

@Module({
  imports: [PolicyEngineModule],
  controllers: [
    ToolCallController,
    SchemaController,
    TraceController,
    AuditController,
    AuditStreamController,
    ApprovalsController,
    GatewayHealthController,
    McpController,
    OAuthMetadataController,
    SdkController,
    GovernController,
    PeersController,
    PolicyController,
    ProposalsController,
    AnalyticsController,
    DashSessionController,
  ],
  providers: [
    AgentAuthService,
    OAuthTokens,
    secretProviderProvider,
    ToolCallService,
    IdempotencyService,
    ErrorAnswers,
    McpService,
    McpSessions,
    McpStreams,
    RemoteTools,
    AdminAuth,
    DashSessions,
    AdminAnswers,
    AuditFeed,
    PluginHost,
  ],
})
export class IngressModule {}
