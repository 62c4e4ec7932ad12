/**
 * The admin API's answers, typed from the gateway's own contracts (type-only imports: nothing
 * of zod or the contracts is bundled).
 */
import type { z } from 'zod';
import type * as C from '@sg/contracts';

export type AuditRecord = C.AuditRecord;
export type StoredEvent = C.StoredEvent;
export type TraceResult = C.TraceResult;
export type StoredAlert = C.StoredAlert;
export type Proposal = C.Proposal;
export type Suggestion = C.Suggestion;
export type Simulation = C.Simulation;
export type PeersReport = C.PeersReport;
export type ApprovalView = C.ApprovalView;
export type LintProblem = C.LintProblem;
export type Summary = z.infer<typeof C.summarySchema>;
export type Suggestions = z.infer<typeof C.suggestionsSchema>;
export type ShadowReport = z.infer<typeof C.shadowReportSchema>;
export type RiskSessions = z.infer<typeof C.riskSessionsSchema>;
export type SessionTrace = z.infer<typeof C.sessionTraceSchema>;
export type RecordsPage = C.RecordsPage;
export type AlertsPage = C.AlertsPage;
export type PolicyVersion = z.infer<typeof C.policyVersionSchema>;
export type VersionDetail = z.infer<typeof C.versionDetailSchema>;
export type HistoryPage = z.infer<typeof C.historyPageSchema>;
/** A pending proposal's simulated impact: the last 7 days against the policy it would make. */
export interface ProposalImpact {
  window: { from: string; to: string };
  summary: Simulation['summary'];
  truncated: boolean;
  /** Up to 50 calls it would decide differently. */
  changed: Simulation['calls'];
}
export type ProposalDetail = z.infer<typeof C.proposalDetailSchema> & {
  simulation: ProposalImpact | { error: string } | null;
};
export type PolicyKind = z.infer<typeof C.policyKindSchema>;
