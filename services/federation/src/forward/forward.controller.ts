import { Body, Controller, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import {
  FEDERATION_RECEIVED,
  type ForwardRequest,
  forwardRequestSchema,
  GATEWAY_ID_HEADER,
  GatewayError,
  INGRESS_GOVERN_SUBJECT,
} from '@sg/contracts';
import { BusClient, NatsBus } from '@sg/messaging';
import { parseBody } from '@sg/runtime';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { Inbound } from './inbound.js';
import { type Peer, Peers } from './peers.js';
import { FEDERATION_REDIS } from './redis.js';

/** Longer than any tool may take (120 s) plus the decision: the ingress bounds the run itself. */
const GOVERN_TIMEOUT_MS = 125_000;

/**
 * Inbound `POST /forward` (docs/federation.md): a trusted peer's call. In order: the peer and
 * its signature (Inbound), the body, loops and hops, what trusted_peers.yaml lets the peer call
 * here, its rate limit. Then the call takes this gateway's own governed path (the ingress, over
 * NATS) as agent `<peer>/<agent>`: this gateway's policy is authoritative. Every refusal is
 * audited.
 */
@Controller()
export class ForwardController {
  constructor(
    private readonly peers: Peers,
    private readonly inbound: Inbound,
    private readonly bus: NatsBus,
    private readonly client: BusClient,
    @Inject(FEDERATION_REDIS) private readonly redis: Redis,
  ) {}

  @Post('forward')
  @HttpCode(200)
  async forward(@Req() req: FastifyRequest, @Body() body: unknown, @Res() reply: FastifyReply) {
    const started = performance.now();
    const ctx = this.inbound.contextOf(req);
    const self = this.peers.self;
    let peer: Peer | null = null;
    let call: ForwardRequest | null = null;
    let authenticated = false;
    try {
      peer = await this.inbound.authenticate(req);
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
          via: call.via,
          hops: call.hops,
        },
        project,
        GOVERN_TIMEOUT_MS,
      );
      return reply
        .status(answer.status)
        .headers({ ...answer.headers, [GATEWAY_ID_HEADER]: self!, 'x-trace-id': ctx.traceId })
        .send({ ...answer.body, gateway: self });
    } catch (err) {
      return this.inbound.refuse(err, ctx, started, { peer, call, authenticated }, reply);
    }
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
