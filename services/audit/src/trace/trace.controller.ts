import { AUDIT_TRACE_SUBJECT, GatewayError, type RequestOf } from '@sg/contracts';
import { BusController, MessagePattern } from '@sg/messaging';
import { EventStore } from '../store/event-store.js';

/** gw.audit.trace.v1: every stored event of one trace, in order. */
@BusController()
export class TraceController {
  constructor(private readonly store: EventStore) {}

  @MessagePattern(AUDIT_TRACE_SUBJECT)
  async trace({ trace_id }: RequestOf<typeof AUDIT_TRACE_SUBJECT>) {
    let events;
    try {
      events = await this.store.byTrace(trace_id);
    } catch {
      throw new GatewayError(
        'AUDIT.STORE_UNAVAILABLE',
        'the audit store (PostgreSQL) is unavailable; retry later',
      );
    }
    if (events.length === 0) {
      throw new GatewayError(
        'AUDIT.TRACE_NOT_FOUND',
        `no events stored for trace ${trace_id} (events arrive within a second of the call)`,
      );
    }
    return { trace_id, events };
  }
}
