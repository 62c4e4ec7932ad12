import { Readable } from 'node:stream';
import { Body, Controller, Get, Param, Post, Req, Res } from '@nestjs/common';
import {
  AUDIT_ACK_ALERT_SUBJECT,
  AUDIT_ALERTS_SUBJECT,
  AUDIT_CHECKPOINTS_SUBJECT,
  AUDIT_RECORDS_SUBJECT,
  AUDIT_SESSION_SUBJECT,
  AUDIT_VERIFY_SUBJECT,
  GatewayError,
} from '@sg/contracts';
import { BusClient } from '@sg/messaging';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorAnswers } from '../http/error-answer.js';
import { ToolCallService } from '../toolcall/toolcall.service.js';
import { AdminAnswers } from './admin-answers.js';
import { AdminAuth } from './admin-auth.js';
import { alertIdOf, parseAckBody } from './alert-ack.js';
import { EXPORT_PAGE_SIZE, exportLines } from './audit-export.js';
import {
  parseAlertsQuery,
  parseCheckpointsQuery,
  parseExportQuery,
  parseRecordsQuery,
  parseSessionQuery,
  parseVerifyQuery,
  searchParams,
  validText,
} from './audit-query.js';

/** Verifying a project's whole chain reads every row: it may take far longer than a query. */
const VERIFY_TIMEOUT_MS = 60_000;
/**
 * An acknowledgement commits only once JetStream confirmed its event (up to 5 s): wait for the
 * verdict rather than answer a timeout for an acknowledgement that then takes.
 */
const ACK_TIMEOUT_MS = 10_000;

/**
 * The audit admin API (X-Admin-Key): records, the JSONL export, session traces, alerts and their
 * acknowledgement, chain verification and checkpoints. Each endpoint parses its query string (and
 * body) and forwards it to the audit service over NATS; docs/audit-queries.md describes them.
 */
@Controller()
export class AuditController {
  constructor(
    private readonly client: BusClient,
    private readonly toolCalls: ToolCallService,
    private readonly errors: ErrorAnswers,
    private readonly admins: AdminAuth,
    private readonly answers: AdminAnswers,
  ) {}

  @Get('api/audit/records')
  records(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.answers.forward(req, reply, 'audit.read', (params, ctx) =>
      this.client.request(AUDIT_RECORDS_SUBJECT, parseRecordsQuery(params), ctx),
    );
  }

  @Get('api/alerts')
  alerts(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.answers.forward(req, reply, 'audit.read', (params, ctx) =>
      this.client.request(AUDIT_ALERTS_SUBJECT, parseAlertsQuery(params), ctx),
    );
  }

  /**
   * Acknowledges an alert, once (alerts.ack), and answers it as GET /api/alerts lists it. The
   * audit service records it in the trail as gw.evt.alert.acknowledged.v1 (why that, and not only
   * this request's admin.action record: AlertAckService).
   */
  @Post('api/alerts/:id/ack')
  ack(
    @Param('id') id: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    return this.answers.forward(req, reply, 'alerts.ack', (_params, ctx, by) =>
      this.client.request(
        AUDIT_ACK_ALERT_SUBJECT,
        { alert_id: alertIdOf(id), by, ...parseAckBody(body) },
        ctx,
        ACK_TIMEOUT_MS,
      ),
    );
  }

  /** The report is the answer, so it is a 200 also when it says ok: false. */
  @Get('api/audit/verify')
  verify(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.answers.forward(req, reply, 'audit.read', (params, ctx) =>
      this.client.request(AUDIT_VERIFY_SUBJECT, parseVerifyQuery(params), ctx, VERIFY_TIMEOUT_MS),
    );
  }

  @Get('api/audit/checkpoints')
  checkpoints(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.answers.forward(req, reply, 'audit.read', (params, ctx) =>
      this.client.request(AUDIT_CHECKPOINTS_SUBJECT, parseCheckpointsQuery(params), ctx),
    );
  }

  /** Seed 002's session trace; the project is the X-Project-ID header, as for tool calls. */
  @Get('api/session/:sid')
  session(@Param('sid') sid: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    return this.answers.forward(req, reply, 'audit.read', (params, ctx) => {
      parseSessionQuery(params);
      if (ctx.projectError) throw ctx.projectError;
      if (!validText(sid, 256))
        throw new GatewayError(
          'AUDIT.INVALID_QUERY',
          'a session id is 1-256 characters, without U+0000',
        );
      return this.client.request(
        AUDIT_SESSION_SUBJECT,
        { project: ctx.project, session_id: sid },
        ctx,
      );
    });
  }

  /**
   * JSONL, streamed as the pages arrive. The first page is fetched before the headers go out,
   * so a bad query or a store that is down still gets its own status code.
   */
  @Get('api/audit/export')
  async export(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      await this.admins.require(req, 'audit.read');
      const filter = parseExportQuery(searchParams(req.url));
      const page = (cursor?: string) =>
        this.client.request(
          AUDIT_RECORDS_SUBJECT,
          { ...filter, limit: EXPORT_PAGE_SIZE, ...(cursor ? { cursor } : {}) },
          ctx,
        );
      const first = await page();
      const filename = `audit-${filter.project ?? 'all'}-${new Date().toISOString().slice(0, 10)}.jsonl`;
      return reply
        .status(200)
        .headers({
          'content-type': 'application/x-ndjson; charset=utf-8',
          'content-disposition': `attachment; filename="${filename}"`,
          'cache-control': 'no-store',
          'x-trace-id': ctx.traceId,
        })
        .send(Readable.from(exportLines(first, page, ctx.traceId)));
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }
}
