import { z } from 'zod';
import { projectIdSchema } from '../common.js';
import { serviceNameSchema } from '../health/health.js';

/** Stream holding every event; its subjects are `gw.evt.>`. */
export const EVENTS_STREAM = 'GW_EVENTS';
export const EVENTS_WILDCARD = 'gw.evt.>';

/** What every event carries around its data. `event_id` doubles as JetStream's Nats-Msg-Id. */
export function eventEnvelopeSchema<T extends z.ZodType>(data: T) {
  return z.object({
    event_id: z.uuid(),
    occurred_at: z.iso.datetime({ offset: true }),
    trace_id: z.string().min(1).max(64),
    project: projectIdSchema,
    source: serviceNameSchema,
    data,
  });
}

export type EventEnvelope<T> = {
  event_id: string;
  occurred_at: string;
  trace_id: string;
  project: string;
  source: z.infer<typeof serviceNameSchema>;
  data: T;
};
