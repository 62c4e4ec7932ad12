import {
  decisionSchema,
  SHADOW_EVALUATED,
  shadowEvaluatedSchema,
  TOOLCALL_COMPLETED,
  toolCallCompletedSchema,
} from '@sg/contracts';
import { z } from 'zod';
import type { Counted } from './fold.js';

const eventIdSchema = z.guid();

/** The subjects the aggregates are built from. */
export const COUNTED_SUBJECTS = [TOOLCALL_COMPLETED, SHADOW_EVALUATED] as const;

/** The fields the aggregates read; the rest of an event (arguments, the run) is not parsed. */
const callSchema = toolCallCompletedSchema
  .pick({
    agent_id: true,
    session_id: true,
    tool: true,
    outcome: true,
    code: true,
    risk_score: true,
    user_id: true,
    duration_ms: true,
  })
  .extend({
    decision: decisionSchema
      .pick({ allowed: true, reason: true, rule_trace: true, reasoning: true })
      .nullable()
      .optional(),
  });
const shadowSchema = shadowEvaluatedSchema.pick({
  agent_id: true,
  tool: true,
  live: true,
  differs: true,
  shadow: true,
});

/** The envelope fields an event is counted by (from JetStream, or a row of audit_events). */
export interface Envelope {
  event_id: string;
  occurred_at: string | Date;
  trace_id: string;
  project: string;
  data: unknown;
}

/** An event as the aggregates count it; null when its data does not fit (it is skipped). */
export function countedOf(subject: string, e: Envelope): Counted | null {
  const at = new Date(e.occurred_at);
  if (Number.isNaN(at.getTime()) || !eventIdSchema.safeParse(e.event_id).success) return null;
  // PostgreSQL gives uuids back in lower case: so are the ids counted.
  const base = { event_id: e.event_id.toLowerCase(), at, trace_id: e.trace_id, project: e.project };
  if (subject === TOOLCALL_COMPLETED) {
    const data = callSchema.safeParse(e.data);
    return data.success ? { kind: 'call', ...base, data: data.data } : null;
  }
  if (subject === SHADOW_EVALUATED) {
    const data = shadowSchema.safeParse(e.data);
    return data.success ? { kind: 'shadow', ...base, data: data.data } : null;
  }
  return null;
}
