import { Inject, Injectable } from '@nestjs/common';
import {
  callOutcome,
  GATEWAY_ID_HEADER,
  GatewayError,
  HttpHeaders,
  TOOLCALL_COMPLETED,
} from '@sg/contracts';
import { type MessageContext, NatsBus } from '@sg/messaging';
import {
  answerError,
  context,
  headerOf,
  isSigned,
  LOGGER,
  type Logger,
  type NonceStore,
  rawBodyOf,
  redisNonceStore,
  traceIdFrom,
  verifySignedRequest,
} from '@sg/runtime';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { type Peer, Peers } from './peers.js';
import { FEDERATION_REDIS } from './redis.js';

/** What a refused request had shown of itself when it was refused. */
export interface Refused {
  peer: Peer | null;
  /** The peer proved who it is: only then is an agent named in the audit. */
  authenticated: boolean;
  call?: { project: string; agent_id: string; request_id: string; tool: string } | null;
}

/**
 * What every request from a peer goes through (POST /forward, GET /federation/tools, GET
 * /federation/ping): the peer it names (X-Gateway-Id) and its signature, against that peer's key
 * only, with the nonce kept in Redis; and one way to refuse, audited (the anomaly detectors
 * count refusals: a burst of forged peer calls raises an alert).
 */
@Injectable()
export class Inbound {
  private readonly nonces: NonceStore;

  constructor(
    private readonly peers: Peers,
    private readonly bus: NatsBus,
    @Inject(FEDERATION_REDIS) redis: Redis,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.nonces = redisNonceStore(redis, 'fed:nonce');
  }

  /** The request's trace: the sender's X-Trace-Id (or traceparent), so both gateways share it. */
  contextOf(req: FastifyRequest): MessageContext {
    const traceId = traceIdFrom(
      headerOf(req.headers, HttpHeaders.traceId),
      headerOf(req.headers, HttpHeaders.traceparent),
    );
    return { traceId, otel: context.active(), project: 'default' };
  }

  /** The peer that sent the request, once its signature (or, where allowed, its legacy key) proved it. */
  async authenticate(req: FastifyRequest): Promise<Peer> {
    const self = this.peers.self;
    const peer = this.peers.peer(
      self === null ? undefined : headerOf(req.headers, GATEWAY_ID_HEADER),
    );
    if (!isSigned(req.headers)) {
      const legacy = headerOf(req.headers, 'x-gateway-key');
      if (peer.config.legacy_gateway_key && legacy !== undefined) {
        await this.checkLegacyKey(peer, legacy);
        return peer;
      }
      throw new GatewayError(
        'AUTH.SIGNATURE_INVALID',
        'sign the request (RFC 9421 over @method, @path and content-digest, with created, nonce and keyid): see docs/federation.md',
      );
    }
    await verifySignedRequest(
      { headers: req.headers, method: req.method, url: req.url, body: rawBodyOf(req) },
      (keyId) => this.peers.verificationKey(peer, keyId),
      this.nonces,
    );
    return peer;
  }

  /** The seed's X-Gateway-Key: the pair's shared key itself, compared in constant time. No replay protection. */
  private async checkLegacyKey(peer: Peer, given: string): Promise<void> {
    const expected = await this.peers.legacyKey(peer);
    const a = createHash('sha256').update(given).digest();
    const b = createHash('sha256').update(expected).digest();
    if (!timingSafeEqual(a, b))
      throw new GatewayError('AUTH.SIGNATURE_INVALID', `the X-Gateway-Key is not ${peer.id}'s key`);
    this.logger.warn(
      { peer: peer.id },
      'a peer authenticated with the legacy X-Gateway-Key (no signature, no replay protection)',
    );
  }

  /** Answers a refused request, audited as a federation call that never reached a decision. */
  refuse(
    err: unknown,
    ctx: MessageContext,
    started: number,
    seen: Refused,
    reply: FastifyReply,
  ): FastifyReply {
    const self = this.peers.self;
    const error = answerError(err, ctx.traceId, this.logger);
    const auditId = randomUUID();
    const { peer, call } = seen;
    this.bus.publish(
      TOOLCALL_COMPLETED,
      {
        channel: 'federation',
        // A forger names nobody: no first-seen agent for it.
        agent_id: seen.authenticated && peer && call ? `${peer.id}/${call.agent_id}` : null,
        session_id: null,
        request_id: call?.request_id ?? null,
        tool: call?.tool ?? null,
        outcome: callOutcome(error.httpStatus, false),
        http_status: error.httpStatus,
        code: error.code,
        risk_score: null,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
        decision: null,
      },
      { ...ctx, project: call?.project ?? 'default' },
      auditId,
    );
    return reply
      .status(error.httpStatus)
      .headers({ 'x-trace-id': ctx.traceId, ...(self ? { [GATEWAY_ID_HEADER]: self } : {}) })
      .send({
        success: false,
        error: error.toBody(),
        trace_id: ctx.traceId,
        audit_id: auditId,
        gateway: self,
      });
  }
}
