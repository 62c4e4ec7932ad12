import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type {
  ApprovalCall,
  ApprovalListQuery,
  ApprovalsPage,
  ApprovalStatus,
  ApprovalView,
} from '@sg/contracts';
import { digestOf, pgPoolProvider, type Pool } from '@sg/runtime';
import { fileURLToPath } from 'node:url';
import { encodeCursor, listQuery } from './approval-queue.js';

export const PG = Symbol('PG');
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));
export const pgProvider = pgPoolProvider(PG, MIGRATIONS_DIR);

interface Row {
  id: string;
  status: ApprovalStatus;
  project: string;
  agent_id: string;
  tool: string;
  request_id: string;
  call: ApprovalCall;
  arguments_digest: string;
  policy_version: string;
  trace_id: string;
  created_at: Date;
  expires_at: Date;
  resolved_at: Date | null;
  approver: string | null;
  outcome: ApprovalView['outcome'];
  risk_score: number | null;
  comment: string | null;
}

export interface StoredApproval {
  view: ApprovalView;
  call: ApprovalCall;
  traceId: string;
}

function toStored(r: Row): StoredApproval {
  return {
    call: r.call,
    traceId: r.trace_id,
    view: {
      approval_id: r.id,
      status: r.status,
      project: r.project,
      agent_id: r.agent_id,
      tool: r.tool,
      request_id: r.request_id,
      trace_id: r.trace_id,
      arguments: r.call.arguments,
      arguments_digest: r.arguments_digest,
      policy_version: r.policy_version,
      created_at: r.created_at.toISOString(),
      expires_at: r.expires_at.toISOString(),
      resolved_at: r.resolved_at?.toISOString() ?? null,
      approver: r.approver,
      outcome: r.outcome,
      risk_score: r.risk_score,
      comment: r.comment,
    },
  };
}

/**
 * approvals in PostgreSQL. Every state change is one conditional UPDATE … RETURNING, so of
 * two concurrent resolvers exactly one sees its row come back.
 */
@Injectable()
export class ApprovalStore implements OnApplicationShutdown {
  constructor(@Inject(PG) private readonly pool: Pool) {}

  async create(
    call: ApprovalCall,
    policyVersion: string,
    traceId: string,
    ttlS: number,
    riskScore: number | null = null,
  ): Promise<StoredApproval> {
    const res = await this.pool.query<Row>(
      `INSERT INTO approvals (id, status, project, agent_id, tool, request_id, call, arguments_digest, policy_version, trace_id, expires_at, risk_score)
       VALUES ($1, 'pending', $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10), $11) RETURNING *`,
      [
        randomUUID(),
        call.project,
        call.agent_id,
        call.tool,
        call.request_id,
        JSON.stringify(call),
        digestOf(call.arguments),
        policyVersion,
        traceId,
        ttlS,
        riskScore,
      ],
    );
    return toStored(res.rows[0]!);
  }

  async get(id: string): Promise<StoredApproval | null> {
    const res = await this.pool.query<Row>('SELECT * FROM approvals WHERE id = $1', [id]);
    return res.rows[0] ? toStored(res.rows[0]) : null;
  }

  /** Moves a pending, unexpired approval to `to`; null when it is not pending any more. */
  async resolvePending(
    id: string,
    to: 'approved' | 'rejected' | 'denied',
    approver: string,
    comment: string | null = null,
  ): Promise<StoredApproval | null> {
    const res = await this.pool.query<Row>(
      `UPDATE approvals SET status = $2, approver = $3, comment = $4, resolved_at = now()
        WHERE id = $1 AND status = 'pending' AND expires_at > now() RETURNING *`,
      [id, to, approver, comment],
    );
    return res.rows[0] ? toStored(res.rows[0]) : null;
  }

  async complete(
    id: string,
    to: 'executed' | 'failed',
    outcome: NonNullable<ApprovalView['outcome']>,
  ): Promise<StoredApproval | null> {
    const res = await this.pool.query<Row>(
      `UPDATE approvals SET status = $2, outcome = $3 WHERE id = $1 AND status = 'approved' RETURNING *`,
      [id, to, JSON.stringify(outcome)],
    );
    return res.rows[0] ? toStored(res.rows[0]) : null;
  }

  /** One page of the queue (approval-queue.ts: its order and cursor). */
  async list(q: ApprovalListQuery): Promise<ApprovalsPage> {
    const { text, values } = listQuery(q);
    const res = await this.pool.query<Row & { position_at: string }>(text, values);
    const page = res.rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      approvals: page.map((r) => toStored(r).view),
      next_cursor:
        res.rows.length > q.limit && last
          ? encodeCursor(q, { at: last.position_at, id: last.id })
          : null,
    };
  }

  /** Marks every pending approval past its expiry as expired and returns them (each once). */
  async expireDue(limit = 500): Promise<StoredApproval[]> {
    const res = await this.pool.query<Row>(
      `UPDATE approvals SET status = 'expired', resolved_at = now()
        WHERE id IN (SELECT id FROM approvals WHERE status = 'pending' AND expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING *`,
      [limit],
    );
    return res.rows.map(toStored);
  }

  async onApplicationShutdown() {
    await this.pool.end().catch(() => undefined);
  }
}
