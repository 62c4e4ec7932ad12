import { Inject, Injectable, Optional } from '@nestjs/common';
import { GATEWAY_ID_HEADER, GatewayError, HttpHeaders } from '@sg/contracts';
import type { MessageContext } from '@sg/messaging';
import {
  ENV,
  type FailureClass,
  injectContext,
  Metrics,
  readCapped,
  Resilience,
  type ResilienceProfile,
  type ResilienceSettings,
  signRequest,
} from '@sg/runtime';
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import type { FederationEnv } from '../config/env.js';
import { type Peer, Peers } from '../forward/peers.js';

/**
 * Peer failures as the breaker counts them: no answer in time, no connection, a 5xx, or an
 * answer that is not the protocol are failures; any other answer means the peer is up. Retried
 * (only where the call allows it) after a timeout or no connection.
 */
export function classifyPeerFailure(err: unknown): FailureClass {
  if (!(err instanceof GatewayError)) return { outcome: 'failure', retryable: false };
  switch (err.code) {
    case 'FEDERATION.PEER_TIMEOUT':
    case 'FEDERATION.PEER_UNREACHABLE':
      return { outcome: 'failure', retryable: true };
    case 'FEDERATION.PEER_ERROR':
      return { outcome: 'failure', retryable: false };
    default:
      return { outcome: 'neutral', retryable: false };
  }
}

/** A peer gateway: FEDERATION.* errors that name it, `peer <id>` spans, sg_peer_* metrics. */
export const PEER_PROFILE: ResilienceProfile = {
  span: 'peer',
  label: 'peer',
  metricPrefix: 'sg_peer',
  timeout: (peer, ms, slots) =>
    new GatewayError(
      'FEDERATION.PEER_TIMEOUT',
      slots === undefined
        ? `peer ${peer} did not answer within ${ms} ms`
        : `peer ${peer} did not answer within ${ms} ms (all ${slots} call slots to it stayed busy)`,
      { peer },
    ),
  circuitOpen: (peer, retryAfterMs) =>
    new GatewayError(
      'FEDERATION.PEER_UNAVAILABLE',
      `peer ${peer} failed repeatedly; calls to it are paused for ${retryAfterMs} ms`,
      { peer, retry_after_ms: retryAfterMs },
    ),
  classify: classifyPeerFailure,
};

/** The federation service's Resilience: per peer (libs/runtime resilience, as the executor's per tool). */
@Injectable()
export class PeerResilience extends Resilience {
  constructor(@Optional() metrics?: Metrics) {
    super(PEER_PROFILE, null, metrics);
  }
}

export interface PeerAnswer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/**
 * Signed HTTP to trusted peers (docs/federation.md): every request carries X-Gateway-Id, the
 * trace (X-Trace-Id, traceparent) and an RFC 9421 signature with a fresh nonce, under the peer's
 * timeout, concurrency limit and circuit breaker. A peer's answer is JSON of bounded size; a
 * 5xx, or anything else, is a FEDERATION.* error that names the peer.
 */
@Injectable()
export class PeerClient {
  constructor(
    private readonly peers: Peers,
    readonly resilience: PeerResilience,
    @Inject(ENV) private readonly env: FederationEnv,
  ) {}

  /**
   * Sends one request to `path`, resolved against the peer's /forward URL (`forward`,
   * `federation/tools?project=default`). `idempotent` allows the peer's retries. `guarded:
   * false` (the health ping) bypasses the breaker and the slots, keeping the timeout.
   */
  async send(
    peer: Peer,
    req: { method: 'GET' | 'POST'; path: string; body?: string },
    ctx: MessageContext,
    opts: { idempotent: boolean; guarded?: boolean },
  ): Promise<PeerAnswer> {
    // trusted_peers.yaml: timeout_ms, max_concurrency, retries, circuit_breaker.
    const settings: ResilienceSettings = peer.config;
    if (opts.guarded === false) {
      const signal = AbortSignal.timeout(settings.timeout_ms);
      return this.attempt(peer, req, ctx, signal).catch((err: unknown) => {
        throw signal.aborted ? PEER_PROFILE.timeout(peer.id, settings.timeout_ms) : err;
      });
    }
    return this.resilience.run(peer.id, settings, opts.idempotent, ({ signal }) =>
      this.attempt(peer, req, ctx, signal),
    );
  }

  private async attempt(
    peer: Peer,
    req: { method: 'GET' | 'POST'; path: string; body?: string },
    ctx: MessageContext,
    signal: AbortSignal,
  ): Promise<PeerAnswer> {
    const url = new URL(req.path, peer.config.url);
    const body = req.body ?? '';
    const key = await this.peers.signingKey(peer);
    const headers: Record<string, string> = {
      [GATEWAY_ID_HEADER]: this.peers.self!,
      [HttpHeaders.traceId]: ctx.traceId,
      accept: 'application/json',
      ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(await signRequest({ method: req.method, url: url.href, body }, key, {
        nonce: randomUUID(),
      })),
    };
    if (peer.config.legacy_gateway_key) headers['x-gateway-key'] = await this.peers.legacyKey(peer);
    if (ctx.otel) injectContext(ctx.otel, headers, { set: (c, k, v) => (c[k] = v) });
    let res;
    try {
      res = await request(url, {
        method: req.method,
        headers,
        ...(req.body !== undefined ? { body } : {}),
        signal,
      });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw new GatewayError(
        'FEDERATION.PEER_UNREACHABLE',
        `peer ${peer.id} cannot be reached (${(err as { code?: string }).code ?? (err as Error).name})`,
        { peer: peer.id },
      );
    }
    const limit = this.env.PEER_ANSWER_LIMIT_BYTES;
    const notProtocol = (why: string) =>
      new GatewayError('FEDERATION.PEER_ERROR', `peer ${peer.id} ${why}`, {
        peer: peer.id,
        http_status: res.statusCode,
      });
    let parsed: unknown;
    try {
      const bytes = await readCapped(res.body, limit, () =>
        notProtocol(`answered more than the ${limit} bytes allowed`),
      );
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof GatewayError) throw err;
      throw notProtocol(`answered HTTP ${res.statusCode} without a JSON body`);
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw notProtocol(`answered HTTP ${res.statusCode} with JSON that is not an object`);
    const answer = parsed as Record<string, unknown>;
    // A 5xx counts against the peer (the breaker), except a loop it refused: that is an answer.
    if (res.statusCode >= 500 && res.statusCode !== 508) {
      const error = answer.error as { code?: unknown; message?: unknown } | undefined;
      throw new GatewayError(
        'FEDERATION.PEER_ERROR',
        `peer ${peer.id} failed (HTTP ${res.statusCode}${typeof error?.code === 'string' ? ` ${error.code.slice(0, 64)}` : ''})`,
        {
          peer: peer.id,
          http_status: res.statusCode,
          ...(typeof error?.code === 'string' ? { code: error.code.slice(0, 64) } : {}),
          ...(typeof answer.trace_id === 'string'
            ? { trace_id: answer.trace_id.slice(0, 64) }
            : {}),
        },
      );
    }
    const retryAfter = res.headers['retry-after'];
    return {
      status: res.statusCode,
      headers: typeof retryAfter === 'string' ? { 'retry-after': retryAfter } : {},
      body: answer,
    };
  }
}
