import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import {
  AUDIT_ALERTS_SUBJECT,
  AUDIT_RECORDS_SUBJECT,
  AUDIT_SESSION_SUBJECT,
  GatewayError,
} from '@sg/contracts';
import { NatsBus } from '@sg/messaging';
import { LOGGER, type Logger } from '@sg/runtime';
import { isDataError } from '../store/event-store.js';
import { AlertsService } from './alerts.service.js';
import { RecordsService } from './records.service.js';

/** Room left in a reply for its envelope: a page is cut short rather than exceed max_payload. */
const REPLY_HEADROOM = 16 * 1024;

/** gw.audit.records.v1, gw.audit.session.v1, gw.audit.alerts.v1: parse, delegate, map errors. */
@Injectable()
export class QueryHandler implements OnModuleInit {
  constructor(
    private readonly bus: NatsBus,
    private readonly records: RecordsService,
    private readonly alerts: AlertsService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit() {
    const maxBytes = () => this.bus.maxPayload - REPLY_HEADROOM;
    this.bus.handle(AUDIT_RECORDS_SUBJECT, (query) =>
      this.store(() => this.records.page(query, maxBytes())),
    );
    this.bus.handle(AUDIT_ALERTS_SUBJECT, (query) =>
      this.store(() => this.alerts.page(query, maxBytes())),
    );
    this.bus.handle(AUDIT_SESSION_SUBJECT, async ({ project, session_id }) => {
      const trace = await this.store(() => this.records.session(project, session_id, maxBytes()));
      if (!trace) {
        throw new GatewayError(
          'AUDIT.SESSION_NOT_FOUND',
          `no calls stored for session ${session_id} in project ${project}; check the session id and the X-Project-ID header`,
        );
      }
      return trace;
    });
  }

  /** PostgreSQL failures become AUDIT.STORE_UNAVAILABLE (a value it refuses: AUDIT.INVALID_QUERY). */
  private async store<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query();
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      if (isDataError(err)) {
        throw new GatewayError(
          'AUDIT.INVALID_QUERY',
          'a filter value is out of range for the audit store (check the dates in from and to)',
        );
      }
      this.logger.warn({ err: (err as Error).message }, 'audit query failed');
      throw new GatewayError(
        'AUDIT.STORE_UNAVAILABLE',
        'the audit store (PostgreSQL) is unavailable; retry later',
      );
    }
  }
}
