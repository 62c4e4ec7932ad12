import { Inject, Injectable } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { POLICY_REDIS } from '@sg/policy-engine';
import { ENV } from '@sg/runtime';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import type { IngressEnv } from '../config/env.js';
import type { Principal } from '../auth/agent-auth.service.js';

/** What the gateway keeps of an MCP session: who opened it and what was negotiated. */
export interface McpSession {
  id: string;
  project: string;
  agent_id: string;
  protocol_version: string;
  client: { name: string; version: string };
  /** The client declared URL-mode elicitation (2025-11-25): approvals are offered as a link. */
  elicitation_url: boolean;
  created_at: string;
}

const key = (id: string) => `mcp:session:${id}`;
const approvalKey = (id: string, digest: string) => `mcp:approval:${id}:${digest}`;

function unavailable(): GatewayError {
  return new GatewayError(
    'MCP.SESSION_STORE_UNAVAILABLE',
    'the MCP session store (Redis) cannot be reached; retry shortly',
  );
}

/**
 * MCP sessions, in Redis so that any ingress instance serves any session: an id is never
 * authentication, only a handle on a session that belongs to the principal who opened it. A
 * session lapses after MCP_SESSION_TTL_S without a request, and DELETE ends it at once.
 */
@Injectable()
export class McpSessions {
  constructor(
    @Inject(POLICY_REDIS) private readonly redis: Redis,
    @Inject(ENV) private readonly env: IngressEnv,
  ) {}

  async open(
    principal: Principal,
    negotiated: Omit<McpSession, 'id' | 'project' | 'agent_id' | 'created_at'>,
  ): Promise<McpSession> {
    const session: McpSession = {
      id: randomUUID(),
      project: principal.project,
      agent_id: principal.agentId,
      ...negotiated,
      created_at: new Date().toISOString(),
    };
    try {
      await this.redis.set(
        key(session.id),
        JSON.stringify(session),
        'EX',
        this.env.MCP_SESSION_TTL_S,
      );
    } catch {
      throw unavailable();
    }
    return session;
  }

  /** The session, if `principal` opened it; its idle timer starts again. */
  async resume(id: string, principal: Principal): Promise<McpSession> {
    let raw: string | null;
    try {
      raw = await this.redis.getex(key(id), 'EX', this.env.MCP_SESSION_TTL_S);
    } catch {
      throw unavailable();
    }
    if (raw === null)
      throw new GatewayError(
        'MCP.SESSION_NOT_FOUND',
        'no such MCP session (it ended or expired); send initialize to open a new one',
      );
    const session = JSON.parse(raw) as McpSession;
    if (session.agent_id !== principal.agentId || session.project !== principal.project)
      throw new GatewayError(
        'MCP.SESSION_FORBIDDEN',
        'this MCP session was opened with another agent key or project; use the key that opened it, or initialize a session of your own',
      );
    return session;
  }

  async end(id: string): Promise<void> {
    try {
      await this.redis.del(key(id));
    } catch {
      throw unavailable();
    }
  }

  /**
   * Binds a call that waits for approval (the digest of its tool and arguments) to the session,
   * so that calling it again reports the approval instead of asking for another one. Kept past
   * the approval's expiry by one session lifetime, so the retry learns how it ended.
   */
  async rememberApproval(id: string, digest: string, approvalId: string, expiresAt: string) {
    const left = Math.ceil((Date.parse(expiresAt) - Date.now()) / 1000);
    const ttl = Math.max(1, Number.isFinite(left) ? left : 0) + this.env.MCP_SESSION_TTL_S;
    try {
      await this.redis.set(approvalKey(id, digest), approvalId, 'EX', ttl);
    } catch {
      // The approval stands and its id is in the answer; a retry would only ask again.
    }
  }

  /** The approval a session's call waits on; null if none (or Redis cannot say: the call is then decided anew, and fails closed). */
  async approvalFor(id: string, digest: string): Promise<string | null> {
    try {
      return await this.redis.get(approvalKey(id, digest));
    } catch {
      return null;
    }
  }

  async forgetApproval(id: string, digest: string): Promise<void> {
    await this.redis.del(approvalKey(id, digest)).catch(() => undefined);
  }
}
