import { Injectable, type OnModuleInit } from '@nestjs/common';
import { AUDIT_TRACE_SUBJECT, GatewayError } from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import { EventStore } from '../store/event-store.js';

/** gw.audit.trace.v1: every stored event of one trace, in order. */
@Injectable()
export class TraceHandler implements OnModuleInit {
  constructor(
    private readonly bus: NatsBus,
    private readonly store: EventStore,
  ) {}

  onModuleInit() {
    this.bus.handle(AUDIT_TRACE_SUBJECT, async ({ trace_id }) => {
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
    });
  }
}
