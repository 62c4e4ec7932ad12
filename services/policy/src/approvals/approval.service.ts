import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  APPROVAL_REQUESTED,
  APPROVAL_RESOLVED,
  type ApprovalCall,
  type ApprovalListQuery,
  type ApprovalResolution,
  type ApprovalsPage,
  type ApprovalView,
  type ErrorCode,
  GatewayError,
} from '@sg/contracts';
import { NatsBus, type MessageContext } from '@sg/messaging';
import { ENV, LOGGER, type Logger } from '@sg/runtime';
import type { PolicyEnv } from '../config/env.js';
import { DecisionService } from '@sg/policy-engine';
import { ApprovalStore, type StoredApproval } from './approval-store.js';

const TRANSIENT = new Set<ErrorCode>([
  'POLICY.RATE_LIMITED',
  'POLICY.DEPENDENCY_UNAVAILABLE',
  'POLICY.EVALUATION_FAILED',
]);

/**
 * Human approval bound to the exact call (seed 004). Approving re-checks the current policy
 * first, then hands the stored call (never one the approver sends) to whoever won the
 * approval; every resolution, expiry included, is an audited event.
 */
@Injectable()
export class ApprovalService implements OnModuleInit, OnApplicationShutdown {
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: ApprovalStore,
    private readonly decisions: DecisionService,
    private readonly bus: NatsBus,
    @Inject(ENV) private readonly env: PolicyEnv,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit() {
    this.sweeper = setInterval(() => void this.expireDue(), this.env.APPROVAL_SWEEP_MS);
    this.sweeper.unref();
  }

  onApplicationShutdown() {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  async create(
    call: ApprovalCall,
    policyVersion: string,
    ctx: MessageContext,
    riskScore: number | null = null,
  ): Promise<ApprovalView> {
    const a = await this.guard(() =>
      this.store.create(call, policyVersion, ctx.traceId, this.env.APPROVAL_TTL_S, riskScore),
    );
    this.bus.publish(
      APPROVAL_REQUESTED,
      {
        approval_id: a.view.approval_id,
        agent_id: call.agent_id,
        tool: call.tool,
        request_id: call.request_id,
        arguments_digest: a.view.arguments_digest,
        policy_version: policyVersion,
        expires_at: a.view.expires_at,
      },
      ctx,
    );
    return a.view;
  }

  async get(id: string): Promise<ApprovalView> {
    await this.expireDue();
    const a = await this.guard(() => this.store.get(id));
    if (!a) throw new GatewayError('APPROVAL.NOT_FOUND', `no approval ${id}`);
    return a.view;
  }

  /** The queue: what is due is expired first, so a page shows each approval as it is now. */
  async list(q: ApprovalListQuery): Promise<ApprovalsPage> {
    await this.expireDue();
    return this.guard(() => this.store.list(q));
  }

  async resolve(
    id: string,
    approved: boolean,
    approver: string,
    ctx: MessageContext,
    fourEyes = false,
    comment: string | null = null,
  ): Promise<ApprovalResolution> {
    await this.expireDue();
    const current = await this.guard(() => this.store.get(id));
    if (!current) throw new GatewayError('APPROVAL.NOT_FOUND', `no approval ${id}`);
    if (current.view.status === 'expired')
      throw new GatewayError(
        'APPROVAL.EXPIRED',
        `approval ${id} expired at ${current.view.expires_at}; the agent must ask again`,
      );
    if (current.view.status !== 'pending')
      throw new GatewayError(
        'APPROVAL.NOT_PENDING',
        `approval ${id} is already ${current.view.status}`,
      );
    // Four-eyes: whoever asked for the call (its end user, or the agent) does not resolve it.
    const requester = [current.call.user_id, current.call.agent_id].find((r) => r === approver);
    if (fourEyes && requester !== undefined)
      throw new GatewayError(
        'APPROVAL.FOUR_EYES',
        `${approver} requested this call and cannot also resolve it (four-eyes); another approver must`,
      );
    const callCtx = { ...ctx, traceId: current.traceId, project: current.call.project };
    const resolved = (to: 'approved' | 'rejected' | 'denied') =>
      this.finish(id, to, approver, comment, callCtx);
    if (!approved) return { approval: await resolved('rejected') };
    // The policy may have changed since the request: it still applies.
    const decision = await this.decisions.recheck({ ...current.call });
    if (!decision.allowed && decision.code && TRANSIENT.has(decision.code)) {
      // A passing cause (a rate limit, Redis away) must not kill the approval: it stays pending.
      throw new GatewayError(
        decision.code,
        `the policy re-check could not pass now (${decision.reason}); the approval stays pending, retry shortly`,
      );
    }
    if (!decision.allowed) return { approval: await resolved('denied'), decision };
    return {
      approval: await resolved('approved'),
      call: current.call,
      decision,
    };
  }

  async complete(
    id: string,
    status: 'executed' | 'failed',
    outcome: NonNullable<ApprovalView['outcome']>,
    ctx: MessageContext,
  ): Promise<ApprovalView> {
    const a = await this.guard(() => this.store.complete(id, status, outcome));
    if (!a)
      throw new GatewayError(
        'APPROVAL.NOT_PENDING',
        `approval ${id} is not waiting for its execution`,
      );
    this.published(a, status, a.view.approver, { ...ctx, traceId: a.traceId });
    return a.view;
  }

  private async finish(
    id: string,
    to: 'approved' | 'rejected' | 'denied',
    approver: string,
    comment: string | null,
    ctx: MessageContext,
  ): Promise<ApprovalView> {
    const a = await this.guard(() => this.store.resolvePending(id, to, approver, comment));
    // Another approver (or the expiry) got there first: only one resolution ever counts.
    if (!a)
      throw new GatewayError(
        'APPROVAL.NOT_PENDING',
        `approval ${id} was resolved by someone else or expired`,
      );
    this.published(a, to, approver, ctx);
    return a.view;
  }

  private async expireDue() {
    try {
      for (const a of await this.store.expireDue())
        this.published(a, 'expired', null, { traceId: a.traceId, project: a.call.project });
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'could not expire approvals');
    }
  }

  private published(
    a: StoredApproval,
    status: 'approved' | 'rejected' | 'expired' | 'denied' | 'executed' | 'failed',
    approver: string | null,
    ctx: MessageContext,
  ) {
    this.bus.publish(
      APPROVAL_RESOLVED,
      {
        approval_id: a.view.approval_id,
        agent_id: a.view.agent_id,
        tool: a.view.tool,
        request_id: a.view.request_id,
        status,
        approver,
        comment: a.view.comment,
      },
      ctx,
    );
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      this.logger.error({ err: (err as Error).message }, 'approval store failed');
      throw new GatewayError(
        'APPROVAL.STORE_UNAVAILABLE',
        'the approval store (PostgreSQL) is unavailable; retry later',
      );
    }
  }
}
