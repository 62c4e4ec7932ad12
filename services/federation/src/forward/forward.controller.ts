import { Body, Controller, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import {
  callOutcome,
  FEDERATION_RECEIVED,
  type ForwardRequest,
  forwardRequestSchema,
  GATEWAY_ID_HEADER,
  GatewayError,
  HttpHeaders,
  INGRESS_GOVERN_SUBJECT,
  TOOLCALL_COMPLETED,
} from '@sg/contracts';
import { BusClient, NatsBus } from '@sg/messaging';
import {
  answerError,
  context,
  headerOf,
  isSigned,
  LOGGER,
  parseBody,
  type Logger,
  type NonceStore,
  rawBodyOf,
  redisNonceStore,
  traceIdFrom,
  verifySignedRequest,
} from '@sg/runtime';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { FEDERATION_REDIS } from './redis.js';
import { type Peer, Peers } from './peers.js';

/** Longer than any tool may take (120 s) plus the decision: the ingress bounds the run itself. */
const GOVERN_TIMEOUT_MS = 125_000;

/**
 * Inbound `POST /forward` (docs/federation.md): a trusted peer's call. In order: the peer
 * (X-Gateway-Id), its signature (RFC 9421, against that peer's key only; nonce in Redis), the
 * body, loops and hops, what trusted_peers.yaml lets the peer call here, its rate limit. Then
 * the call takes this gateway's own governed path (the ingress, over NATS) as agent
 * `<peer>/<agent>`: this gateway's policy is authoritative. Every refusal is audited.
 */
@Controller()
export class ForwardController {
  private readonly nonces: NonceStore;

  constructor(
    private readonly peers: Peers,
    private readonly bus: NatsBus,
    private readonly client: BusClient,
    @Inject(FEDERATION_REDIS) private readonly redis: Redis,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.nonces = redisNonceStore(redis, 'fed:nonce');
  }

  @Post('forward')
  @HttpCode(200)
  async forward(@Req() req: FastifyRequest, @Body() body: unknown, @Res() reply: FastifyReply) {
    const started = performance.now();
    const traceId = traceIdFrom(
      headerOf(req.headers, HttpHeaders.traceId),
      headerOf(req.headers, HttpHeaders.traceparent),
    );
    const ctx = { traceId, otel: context.active(), project: 'default' };
    const self = this.peers.self;
    let peer: Peer | null = null;
    let call: ForwardRequest | null = null;
    let authenticated = false;
    try {
      peer = this.peers.peer(self === null ? undefined : headerOf(req.headers, GATEWAY_ID_HEADER));
      await this.authenticate(req, peer);
      authenticated = true;
      call = parseBody(forwardRequestSchema, body, 'invalid /forward body');
      if (call.via.includes(self!))
        throw new GatewayError(
          'FEDERATION.LOOP_DETECTED',
          `the call already crossed ${self} (via ${call.via.join(' → ')}); it is not forwarded in a loop`,
        );
      if (call.hops > this.peers.maxHops)
        throw new GatewayError(
          'FEDERATION.LOOP_DETECTED',
          `the call took ${call.hops} hops; at most ${this.peers.maxHops} are allowed here`,
        );
      if (call.via[call.via.length - 1] !== peer.id)
        throw new GatewayError(
          'REQUEST.INVALID_BODY',
          `via must end with the sending gateway, ${peer.id}`,
        );
      this.checkAllowed(peer, call);
      await this.checkRate(peer);
      const project = { ...ctx, project: call.project };
      this.bus.publish(
        FEDERATION_RECEIVED,
        {
          peer: peer.id,
          agent_id: call.agent_id,
          tool: call.tool,
          request_id: call.request_id,
          via: call.via,
          hops: call.hops,
          original_decision: call.original_decision,
        },
        project,
      );
      const answer = await this.client.request(
        INGRESS_GOVERN_SUBJECT,
        {
          project: call.project,
          agent_id: `${peer.id}/${call.agent_id}`,
          session_id: `${peer.id}/${call.session_id}`.slice(0, 128),
          request_id: `${peer.id}/${call.request_id}`.slice(0, 128),
          ...(call.user_id ? { user_id: call.user_id } : {}),
          tool: call.tool,
          arguments: call.arguments,
        },
        project,
        GOVERN_TIMEOUT_MS,
      );
      return reply
        .status(answer.status)
        .headers({ ...answer.headers, [GATEWAY_ID_HEADER]: self!, 'x-trace-id': traceId })
        .send({ ...answer.body, gateway: self });
    } catch (err) {
      const error = answerError(err, traceId, this.logger);
      const auditId = randomUUID();
      // Refused before this gateway decided: audited here (the anomaly detectors count them).
      // An agent is named only once its peer proved who it is: a forger names nobody.
      this.bus.publish(
        TOOLCALL_COMPLETED,
        {
          channel: 'federation',
          agent_id: authenticated && peer && call ? `${peer.id}/${call.agent_id}` : null,
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
        .headers({ 'x-trace-id': traceId, ...(self ? { [GATEWAY_ID_HEADER]: self } : {}) })
        .send({
          success: false,
          error: error.toBody(),
          trace_id: traceId,
          audit_id: auditId,
          gateway: self,
        });
    }
  }

  /** The peer's signature over this request, with its own pair's key and no other. */
  private async authenticate(req: FastifyRequest, peer: Peer): Promise<void> {
    if (!isSigned(req.headers))
      throw new GatewayError(
        'AUTH.SIGNATURE_INVALID',
        'sign /forward (RFC 9421 over @method, @path and content-digest, with created, nonce and keyid): see docs/federation.md',
      );
    await verifySignedRequest(
      { headers: req.headers, method: req.method, url: req.url, body: rawBodyOf(req) },
      (keyId) => this.peers.verificationKey(peer, keyId),
      this.nonces,
    );
  }

  private checkAllowed(peer: Peer, call: ForwardRequest): void {
    if (!peer.projects.has(call.project))
      throw new GatewayError(
        'FEDERATION.NOT_ALLOWED',
        `peer ${peer.id} may not call into project ${call.project} here (trusted_peers.yaml allow.projects)`,
      );
    if (peer.tools.firstMatch(call.tool) < 0)
      throw new GatewayError(
        'FEDERATION.NOT_ALLOWED',
        `peer ${peer.id} may not call ${call.tool} here (trusted_peers.yaml allow.tools)`,
      );
  }

  /** A fixed window per peer in Redis, shared by every instance; Redis away: refused (fail closed). */
  private async checkRate(peer: Peer): Promise<void> {
    const limit = peer.config.allow.rate_limit;
    if (!limit) return;
    const window = Math.floor(Date.now() / 1000 / limit.window_s);
    const key = `fed:rate:${peer.id}:${window}`;
    let count: number;
    try {
      const [[, n]] = (await this.redis.multi().incr(key).expire(key, limit.window_s).exec()) as [
        [unknown, number],
      ];
      count = n;
    } catch {
      throw new GatewayError(
        'POLICY.DEPENDENCY_UNAVAILABLE',
        'the rate-limit store (Redis) cannot be reached, so the call is refused; retry shortly',
      );
    }
    if (count > limit.limit)
      throw new GatewayError(
        'FEDERATION.RATE_LIMITED',
        `peer ${peer.id} sent more than ${limit.limit} calls in ${limit.window_s} s`,
      );
  }
}
