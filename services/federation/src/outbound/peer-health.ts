import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import type { PeersReport } from '@sg/contracts';
import { context, ENV, LOGGER, type Logger, Metrics } from '@sg/runtime';
import { randomUUID } from 'node:crypto';
import type { FederationEnv } from '../config/env.js';
import { type Peer, Peers } from '../forward/peers.js';
import { PeerClient } from './peer-client.js';

interface Seen {
  state: 'up' | 'down';
  at: string;
  okAt: string | null;
  latencyMs: number | null;
  error: string | null;
}

/**
 * Each peer's health: a signed `GET /federation/ping` every FEDERATION_PING_INTERVAL_MS (past
 * the breaker, so a paused peer is still probed), the last answer kept for
 * `gw.federation.peers.v1` and the `sg_peer_up` and `sg_peer_ping_seconds` gauges.
 */
@Injectable()
export class PeerHealth implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly seen = new Map<string, Seen>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly peers: Peers,
    private readonly client: PeerClient,
    @Inject(ENV) private readonly env: FederationEnv,
    @Inject(LOGGER) private readonly logger: Logger,
    @Optional() metrics?: Metrics,
  ) {
    const seen = this.seen;
    const list = () => this.peers.list();
    metrics?.gauge({
      name: 'sg_peer_up',
      help: "Each peer's last signed ping: 1 answered, 0 failed (no row before the first ping)",
      labelNames: ['peer'],
      collect() {
        this.reset();
        for (const p of list()) {
          const s = seen.get(p.id);
          if (s) this.set({ peer: p.id }, s.state === 'up' ? 1 : 0);
        }
      },
    });
    metrics?.gauge({
      name: 'sg_peer_ping_seconds',
      help: "Each peer's last signed ping round trip",
      labelNames: ['peer'],
      collect() {
        this.reset();
        for (const p of list()) {
          const ms = seen.get(p.id)?.latencyMs;
          if (ms != null) this.set({ peer: p.id }, ms / 1000);
        }
      },
    });
  }

  onApplicationBootstrap(): void {
    const every = this.env.FEDERATION_PING_INTERVAL_MS;
    if (every <= 0) return;
    const tick = () => {
      void this.pingAll().finally(() => {
        this.timer = setTimeout(tick, every);
        this.timer.unref();
      });
    };
    this.timer = setTimeout(tick, Math.min(every, 1000));
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearTimeout(this.timer);
  }

  /** Pings every peer once, at the same time. */
  async pingAll(): Promise<void> {
    await Promise.all(this.peers.list().map((p) => this.ping(p)));
  }

  private async ping(peer: Peer): Promise<void> {
    const started = performance.now();
    const at = new Date().toISOString();
    const before = this.seen.get(peer.id);
    try {
      const answer = await this.client.send(
        peer,
        { method: 'GET', path: 'federation/ping' },
        { traceId: `ping-${randomUUID()}`, otel: context.active(), project: 'default' },
        { idempotent: false, guarded: false },
      );
      if (answer.status !== 200 || answer.body.gateway !== peer.id)
        throw new Error(
          `answered HTTP ${answer.status}${typeof (answer.body.error as { code?: unknown })?.code === 'string' ? ` ${String((answer.body.error as { code: string }).code)}` : ''}`,
        );
      this.seen.set(peer.id, {
        state: 'up',
        at,
        okAt: at,
        latencyMs: Math.round((performance.now() - started) * 100) / 100,
        error: null,
      });
      if (before?.state === 'down')
        this.logger.info({ peer: peer.id }, 'peer answers its ping again');
    } catch (err) {
      const error = (err as Error).message.slice(0, 300);
      this.seen.set(peer.id, {
        state: 'down',
        at,
        okAt: before?.okAt ?? null,
        latencyMs: null,
        error,
      });
      if (before?.state !== 'down')
        this.logger.warn({ peer: peer.id, err: error }, 'peer does not answer its ping');
    }
  }

  report(): PeersReport {
    return {
      self: this.peers.self,
      peers: this.peers.list().map((p) => {
        const s = this.seen.get(p.id);
        return {
          peer: p.id,
          url: p.config.url,
          state: s?.state ?? 'unknown',
          breaker: this.client.resilience.breaker(p.id, p.config).state,
          last_ping_at: s?.at ?? null,
          last_ok_at: s?.okAt ?? null,
          latency_ms: s?.latencyMs ?? null,
          error: s?.error ?? null,
        };
      }),
    };
  }
}
