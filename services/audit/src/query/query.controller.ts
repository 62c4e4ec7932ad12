import { Inject } from '@nestjs/common';
import {
  AUDIT_ALERTS_SUBJECT,
  AUDIT_RECORDS_SUBJECT,
  AUDIT_SESSION_SUBJECT,
  GatewayError,
  type RequestOf,
} from '@sg/contracts';
import { BusController, MessagePattern, NatsBus } from '@sg/messaging';
import { LOGGER, type Logger } from '@sg/runtime';
import { AlertsService } from './alerts.service.js';
import { RecordsService } from './records.service.js';
import { storeAnswer } from './store-answer.js';

/** Room left in a reply for its envelope: a page is cut short rather than exceed max_payload. */
const REPLY_HEADROOM = 16 * 1024;

/** gw.audit.records.v1, gw.audit.session.v1, gw.audit.alerts.v1: parse, delegate, map errors. */
@BusController()
export class QueryController {
  constructor(
    private readonly bus: NatsBus,
    private readonly recordsOf: RecordsService,
    private readonly alertsOf: AlertsService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @MessagePattern(AUDIT_RECORDS_SUBJECT)
  records(query: RequestOf<typeof AUDIT_RECORDS_SUBJECT>) {
    return this.store(() => this.recordsOf.page(query, this.maxBytes()));
  }

  @MessagePattern(AUDIT_ALERTS_SUBJECT)
  alerts(query: RequestOf<typeof AUDIT_ALERTS_SUBJECT>) {
    return this.store(() => this.alertsOf.page(query, this.maxBytes()));
  }

  @MessagePattern(AUDIT_SESSION_SUBJECT)
  async session({ project, session_id }: RequestOf<typeof AUDIT_SESSION_SUBJECT>) {
    const trace = await this.store(() =>
      this.recordsOf.session(project, session_id, this.maxBytes()),
    );
    if (!trace) {
      throw new GatewayError(
        'AUDIT.SESSION_NOT_FOUND',
        `no calls stored for session ${session_id} in project ${project}; check the session id and the X-Project-ID header`,
      );
    }
    return trace;
  }

  private maxBytes(): number {
    return this.bus.maxPayload - REPLY_HEADROOM;
  }

  /** PostgreSQL failures become AUDIT.STORE_UNAVAILABLE (a value it refuses: AUDIT.INVALID_QUERY). */
  private store<T>(query: () => Promise<T>): Promise<T> {
    return storeAnswer(
      this.logger,
      query,
      'a filter value is out of range for the audit store (check the dates in from and to)',
    );
  }
}
