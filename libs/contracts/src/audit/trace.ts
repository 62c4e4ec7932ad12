import { z } from 'zod';

export const AUDIT_TRACE_SUBJECT = 'gw.audit.trace.v1';

export const traceQuerySchema = z.object({ trace_id: z.string().min(1).max(64) });
export type TraceQuery = z.infer<typeof traceQuerySchema>;

export const storedEventSchema = z.object({
  event_id: z.string(),
  subject: z.string(),
  source: z.string(),
  project: z.string(),
  trace_id: z.string(),
  occurred_at: z.string(),
  stream_seq: z.number().int(),
  data: z.unknown(),
});
export type StoredEvent = z.infer<typeof storedEventSchema>;

export const traceResultSchema = z.object({
  trace_id: z.string(),
  events: z.array(storedEventSchema),
});
export type TraceResult = z.infer<typeof traceResultSchema>;
