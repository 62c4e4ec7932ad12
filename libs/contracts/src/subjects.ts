import type { z } from 'zod';
import { AUDIT_TRACE_SUBJECT, traceQuerySchema, traceResultSchema } from './audit/trace.js';
import {
  ackAlertSchema,
  AUDIT_ACK_ALERT_SUBJECT,
  AUDIT_ALERTS_SUBJECT,
  AUDIT_CHECKPOINTS_SUBJECT,
  AUDIT_RECORDS_SUBJECT,
  AUDIT_SESSION_SUBJECT,
  AUDIT_VERIFY_SUBJECT,
  alertsPageSchema,
  alertsQuerySchema,
  checkpointsExportSchema,
  checkpointsQuerySchema,
  recordsPageSchema,
  recordsQuerySchema,
  sessionQuerySchema,
  sessionTraceSchema,
  storedAlertSchema,
  verifyQuerySchema,
  verifyReportSchema,
} from './audit/query.js';
import { ADMIN_ACTION, adminActionSchema } from './events/admin.js';
import {
  ALERT_ACKNOWLEDGED,
  ALERT_RAISED,
  alertAcknowledgedSchema,
  alertRaisedAnswerSchema,
  alertRaisedSchema,
  AUDIT_RAISE_ALERT_SUBJECT,
  raiseAlertSchema,
} from './events/alert.js';
import {
  DECISION_MADE,
  TOOLCALL_COMPLETED,
  TOOLCALL_EXECUTED,
  TOOLCALL_RECEIVED,
  decisionMadeSchema,
  toolCallCompletedSchema,
  toolCallExecutedSchema,
  toolCallReceivedSchema,
} from './events/toolcall.js';
import { EXECUTE_SUBJECT, executeRequestSchema, executeResultSchema } from './executor/execute.js';
import { healthReportSchema, healthRequestSchema, healthSubject } from './health/health.js';
import {
  APPROVAL_REQUESTED,
  APPROVAL_RESOLVED,
  approvalRequestedSchema,
  approvalResolvedSchema,
  POLICY_CHANGED,
  policyChangedSchema,
  SHADOW_EVALUATED,
  shadowEvaluatedSchema,
} from './events/policy.js';
import {
  APPROVAL_COMPLETE_SUBJECT,
  APPROVAL_CREATE_SUBJECT,
  APPROVAL_GET_SUBJECT,
  APPROVAL_LIST_SUBJECT,
  APPROVAL_RESOLVE_SUBJECT,
  approvalCompleteSchema,
  approvalCreateSchema,
  approvalGetSchema,
  approvalListSchema,
  approvalResolutionSchema,
  approvalsPageSchema,
  approvalResolveSchema,
  approvalViewSchema,
} from './policy/approval.js';
import { DECIDE_SUBJECT, decideRequestSchema, decisionSchema } from './policy/decide.js';
import {
  POLICY_PROPOSAL_EVENT,
  POLICY_PROPOSAL_GET_SUBJECT,
  POLICY_PROPOSAL_RESOLVE_SUBJECT,
  POLICY_PROPOSALS_SUBJECT,
  POLICY_PROPOSE_SUBJECT,
  proposalDetailSchema,
  proposalEventSchema,
  proposalGetSchema,
  proposalResolveSchema,
  proposalSchema,
  proposalsPageSchema,
  proposalsQuerySchema,
  proposedSchema,
  proposeRequestSchema,
} from './policy/proposals.js';
import {
  activeQuerySchema,
  activeVersionsSchema,
  historyPageSchema,
  historyQuerySchema,
  POLICY_ACTIVE_SUBJECT,
  POLICY_HISTORY_SUBJECT,
  POLICY_ROLLBACK_SUBJECT,
  POLICY_SAVE_SUBJECT,
  POLICY_VERSION_SUBJECT,
  POLICY_SIGNING_KEY_SUBJECT,
  signingKeyQuerySchema,
  signingKeySchema,
  rollbackRequestSchema,
  savedSchema,
  saveRequestSchema,
  versionDetailSchema,
  versionQuerySchema,
} from './policy/versions.js';
import {
  FEDERATION_RECEIVED,
  federationReceivedSchema,
  governAnswerSchema,
  governRequestSchema,
  INGRESS_GOVERN_SUBJECT,
} from './federation/forward.js';
import {
  catalogueRequestSchema,
  catalogueSchema,
  FEDERATION_CATALOGUE_SUBJECT,
  FEDERATION_FORWARD_SUBJECT,
  FEDERATION_PEERS_SUBJECT,
  outboundAnswerSchema,
  outboundForwardSchema,
  peersQuerySchema,
  peersReportSchema,
} from './federation/outbound.js';

import {
  ANALYTICS_DISMISS_SUBJECT,
  ANALYTICS_RISK_SESSIONS_SUBJECT,
  ANALYTICS_RISK_TREND_SUBJECT,
  ANALYTICS_SHADOW_REPORT_SUBJECT,
  ANALYTICS_SIMULATE_SUBJECT,
  ANALYTICS_SUGGEST_SUBJECT,
  ANALYTICS_SUMMARY_SUBJECT,
  dismissedSchema,
  dismissRequestSchema,
  riskSessionsQuerySchema,
  riskSessionsSchema,
  riskTrendQuerySchema,
  riskTrendSchema,
  shadowReportQuerySchema,
  shadowReportSchema,
  simulateRequestSchema,
  simulationSchema,
  suggestionsSchema,
  suggestQuerySchema,
  summaryQuerySchema,
  summarySchema,
} from './analytics/analytics.js';

const health = { request: healthRequestSchema, response: healthReportSchema };

/** Every request-reply subject (core NATS, queue group per service) with its two schemas. */
export const REQUESTS = {
  [DECIDE_SUBJECT]: { request: decideRequestSchema, response: decisionSchema },
  [EXECUTE_SUBJECT]: { request: executeRequestSchema, response: executeResultSchema },
  [AUDIT_TRACE_SUBJECT]: { request: traceQuerySchema, response: traceResultSchema },
  [AUDIT_RECORDS_SUBJECT]: { request: recordsQuerySchema, response: recordsPageSchema },
  [AUDIT_SESSION_SUBJECT]: { request: sessionQuerySchema, response: sessionTraceSchema },
  [AUDIT_ALERTS_SUBJECT]: { request: alertsQuerySchema, response: alertsPageSchema },
  [AUDIT_ACK_ALERT_SUBJECT]: { request: ackAlertSchema, response: storedAlertSchema },
  [AUDIT_VERIFY_SUBJECT]: { request: verifyQuerySchema, response: verifyReportSchema },
  [AUDIT_CHECKPOINTS_SUBJECT]: {
    request: checkpointsQuerySchema,
    response: checkpointsExportSchema,
  },
  [APPROVAL_CREATE_SUBJECT]: { request: approvalCreateSchema, response: approvalViewSchema },
  [APPROVAL_GET_SUBJECT]: { request: approvalGetSchema, response: approvalViewSchema },
  [APPROVAL_LIST_SUBJECT]: { request: approvalListSchema, response: approvalsPageSchema },
  [APPROVAL_RESOLVE_SUBJECT]: {
    request: approvalResolveSchema,
    response: approvalResolutionSchema,
  },
  [APPROVAL_COMPLETE_SUBJECT]: { request: approvalCompleteSchema, response: approvalViewSchema },
  [INGRESS_GOVERN_SUBJECT]: { request: governRequestSchema, response: governAnswerSchema },
  [AUDIT_RAISE_ALERT_SUBJECT]: { request: raiseAlertSchema, response: alertRaisedAnswerSchema },
  [POLICY_HISTORY_SUBJECT]: { request: historyQuerySchema, response: historyPageSchema },
  [POLICY_VERSION_SUBJECT]: { request: versionQuerySchema, response: versionDetailSchema },
  [POLICY_SIGNING_KEY_SUBJECT]: { request: signingKeyQuerySchema, response: signingKeySchema },
  [POLICY_ACTIVE_SUBJECT]: { request: activeQuerySchema, response: activeVersionsSchema },
  [POLICY_PROPOSE_SUBJECT]: { request: proposeRequestSchema, response: proposedSchema },
  [POLICY_PROPOSALS_SUBJECT]: { request: proposalsQuerySchema, response: proposalsPageSchema },
  [POLICY_PROPOSAL_GET_SUBJECT]: { request: proposalGetSchema, response: proposalDetailSchema },
  [POLICY_PROPOSAL_RESOLVE_SUBJECT]: { request: proposalResolveSchema, response: proposalSchema },
  [POLICY_SAVE_SUBJECT]: { request: saveRequestSchema, response: savedSchema },
  [POLICY_ROLLBACK_SUBJECT]: { request: rollbackRequestSchema, response: savedSchema },
  [FEDERATION_FORWARD_SUBJECT]: { request: outboundForwardSchema, response: outboundAnswerSchema },
  [FEDERATION_CATALOGUE_SUBJECT]: { request: catalogueRequestSchema, response: catalogueSchema },
  [FEDERATION_PEERS_SUBJECT]: { request: peersQuerySchema, response: peersReportSchema },
  [ANALYTICS_SUMMARY_SUBJECT]: { request: summaryQuerySchema, response: summarySchema },
  [ANALYTICS_SUGGEST_SUBJECT]: { request: suggestQuerySchema, response: suggestionsSchema },
  [ANALYTICS_DISMISS_SUBJECT]: { request: dismissRequestSchema, response: dismissedSchema },
  [ANALYTICS_SIMULATE_SUBJECT]: { request: simulateRequestSchema, response: simulationSchema },
  [ANALYTICS_SHADOW_REPORT_SUBJECT]: {
    request: shadowReportQuerySchema,
    response: shadowReportSchema,
  },
  [ANALYTICS_RISK_SESSIONS_SUBJECT]: {
    request: riskSessionsQuerySchema,
    response: riskSessionsSchema,
  },
  [ANALYTICS_RISK_TREND_SUBJECT]: { request: riskTrendQuerySchema, response: riskTrendSchema },
  [healthSubject('ingress')]: health,
  [healthSubject('policy')]: health,
  [healthSubject('executor')]: health,
  [healthSubject('audit')]: health,
  [healthSubject('federation')]: health,
  [healthSubject('analytics')]: health,
} as const;

/** Every event subject (JetStream stream GW_EVENTS) with the schema of its data. */
export const EVENTS = {
  [TOOLCALL_RECEIVED]: toolCallReceivedSchema,
  [DECISION_MADE]: decisionMadeSchema,
  [TOOLCALL_EXECUTED]: toolCallExecutedSchema,
  [TOOLCALL_COMPLETED]: toolCallCompletedSchema,
  [SHADOW_EVALUATED]: shadowEvaluatedSchema,
  [POLICY_CHANGED]: policyChangedSchema,
  [APPROVAL_REQUESTED]: approvalRequestedSchema,
  [APPROVAL_RESOLVED]: approvalResolvedSchema,
  [ALERT_RAISED]: alertRaisedSchema,
  [ALERT_ACKNOWLEDGED]: alertAcknowledgedSchema,
  [FEDERATION_RECEIVED]: federationReceivedSchema,
  [ADMIN_ACTION]: adminActionSchema,
  [POLICY_PROPOSAL_EVENT]: proposalEventSchema,
} as const;

export type RequestSubject = keyof typeof REQUESTS;
export type RequestOf<S extends RequestSubject> = z.infer<(typeof REQUESTS)[S]['request']>;
export type ResponseOf<S extends RequestSubject> = z.infer<(typeof REQUESTS)[S]['response']>;
export type EventSubject = keyof typeof EVENTS;
export type EventDataOf<S extends EventSubject> = z.infer<(typeof EVENTS)[S]>;
