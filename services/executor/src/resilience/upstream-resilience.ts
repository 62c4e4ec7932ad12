import { Inject, Injectable, Optional } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { inSpan, Metrics, SpanKind } from '@sg/runtime';
import { type BreakerSettings, CircuitBreaker, type Outcome } from './circuit-breaker.js';
import { ConcurrencyLimiter, SlotTimeoutError } from './concurrency-limiter.js';

/** The resilience settings every upstream has, whatever its transport (libs/config resilienceShape). */
export interface ResilienceSettings {
  timeout_ms: number;
  max_concurrency: number;
  retries: number;
  circuit_breaker: BreakerSettings;
}

/** What an attempt gets: a signal aborted at the call's deadline, and the time left. */
export interface AttemptContext {
  signal: AbortSignal;
  remainingMs: number;
  /** 1 for the first attempt, 2 for the first retry... */
  attempt: number;
}

/** How a failure counts: for the breaker, and whether an idempotent call may try again. */
export interface FailureClass {
  outcome: Outcome;
  retryable: boolean;
}

const RETRYABLE_STATUS = new Set([502, 503, 504]);

/**
 * Upstream failures as the executor reports them: timeouts, unreachable upstreams and 5xx
 * answers are failures (4xx and other upstream errors mean the upstream is up); only
 * timeouts, unreachable and 502/503/504 are worth a retry. Refusals made before any
 * connection (SSRF, secrets) judge nothing.
 */
export function classifyFailure(err: unknown): FailureClass {
  if (!(err instanceof GatewayError)) return { outcome: 'failure', retryable: false };
  switch (err.code) {
    case 'EXECUTOR.UPSTREAM_TIMEOUT':
    case 'EXECUTOR.UPSTREAM_UNREACHABLE':
      return { outcome: 'failure', retryable: true };
    case 'EXECUTOR.UPSTREAM_ERROR': {
      const status = (err.details as { upstream_status?: number } | undefined)?.upstream_status;
      if (status === undefined) return { outcome: 'success', retryable: false };
      if (status >= 500) return { outcome: 'failure', retryable: RETRYABLE_STATUS.has(status) };
      return { outcome: 'success', retryable: false };
    }
    default:
      return { outcome: 'neutral', retryable: false };
  }
}

/** Nest token of optional ResilienceOptions. */
export const RESILIENCE_OPTIONS = Symbol('RESILIENCE_OPTIONS');

export interface ResilienceOptions {
  /** First backoff step; attempt n waits a random time in [0, base * 2^(n-1)] (full jitter). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  classify?: (err: unknown) => FailureClass;
}

interface Guard {
  tool: string;
  limiter: ConcurrencyLimiter;
  breaker: CircuitBreaker;
}

/** sg_upstream_breaker_state's values. */
const BREAKER_STATE = { closed: 0, half_open: 1, open: 2 } as const;

/**
 * Timeout, concurrency limit, circuit breaker and retries around any upstream call, per tool.
 * State is keyed by tool name and its settings: a registry edit that changes them starts
 * afresh. The state lives in this executor instance (each replica has its own breakers).
 *
 * Generic over the transport: the HTTP caller uses it, and an MCP adapter can wrap its call
 * the same way: `resilience.run(tool.name, tool.upstream, tool.idempotent, (ctx) => callMcp(..., ctx.signal))`.
 */
@Injectable()
export class UpstreamResilience {
  private readonly guards = new Map<string, Guard>();
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly classify: (err: unknown) => FailureClass;
  private readonly latency: ReturnType<Metrics['histogram']> | undefined;

  constructor(
    @Optional() @Inject(RESILIENCE_OPTIONS) options: ResilienceOptions | null = null,
    @Optional() metrics?: Metrics,
  ) {
    options ??= {};
    this.backoffBaseMs = options.backoffBaseMs ?? 50;
    this.backoffMaxMs = options.backoffMaxMs ?? 1000;
    this.classify = options.classify ?? classifyFailure;
    this.latency = metrics?.histogram({
      name: 'sg_upstream_request_duration_seconds',
      help: "Upstream calls by tool and outcome ('ok' or the error code), retries and waits included",
      labelNames: ['tool', 'outcome'],
    });
    const guards = this.guards;
    metrics?.gauge({
      name: 'sg_upstream_breaker_state',
      help: "Each tool's circuit breaker: 0 closed, 1 half-open, 2 open",
      labelNames: ['tool'],
      collect() {
        this.reset();
        // A tool whose settings changed has a guard per settings; the newest, set last, is live.
        for (const g of guards.values()) this.set({ tool: g.tool }, BREAKER_STATE[g.breaker.state]);
      },
    });
  }

  /** The breaker of a tool with these settings (for health and tests). */
  breaker(toolName: string, settings: ResilienceSettings): CircuitBreaker {
    return this.guard(toolName, settings).breaker;
  }

  /**
   * Runs `attempt` under the tool's protections. The whole call (waiting for a slot, every
   * attempt, backoff) is bounded by `timeout_ms`; past it the call fails with
   * EXECUTOR.UPSTREAM_TIMEOUT whether or not the attempt honours its signal. An open breaker
   * answers EXECUTOR.CIRCUIT_OPEN without calling. Retries (at most `retries`) happen only when
   * `idempotent` and only after a retryable failure, with exponential backoff and full jitter.
   */
  async run<T>(
    toolName: string,
    settings: ResilienceSettings,
    idempotent: boolean,
    attempt: (ctx: AttemptContext) => Promise<T>,
  ): Promise<T> {
    // The upstream's span: a child of the executor's handler span (the active one).
    const call = () =>
      inSpan(`upstream ${toolName}`, SpanKind.CLIENT, { 'sg.tool': toolName }, () =>
        this.guarded(toolName, settings, idempotent, attempt),
      );
    if (!this.latency) return call();
    const started = performance.now();
    let outcome = 'ok';
    try {
      return await call();
    } catch (err) {
      outcome = err instanceof GatewayError ? err.code : 'error';
      throw err;
    } finally {
      this.latency.observe({ tool: toolName, outcome }, (performance.now() - started) / 1000);
    }
  }

  private async guarded<T>(
    toolName: string,
    settings: ResilienceSettings,
    idempotent: boolean,
    attempt: (ctx: AttemptContext) => Promise<T>,
  ): Promise<T> {
    const guard = this.guard(toolName, settings);
    const deadline = performance.now() + settings.timeout_ms;
    const timeout = () =>
      new GatewayError(
        'EXECUTOR.UPSTREAM_TIMEOUT',
        `${toolName}'s upstream did not answer within ${settings.timeout_ms} ms`,
      );
    const maxAttempts = idempotent ? 1 + settings.retries : 1;
    let lastError: unknown;
    for (let n = 1; n <= maxAttempts; n++) {
      const ticket = guard.breaker.tryAcquire();
      if (!ticket) {
        if (n > 1) throw lastError;
        throw new GatewayError(
          'EXECUTOR.CIRCUIT_OPEN',
          `${toolName}'s upstream failed repeatedly; calls are paused for ${guard.breaker.retryAfterMs} ms`,
          {
            retry_after_ms: guard.breaker.retryAfterMs,
          },
        );
      }
      let release: () => void;
      try {
        release = await guard.limiter.acquire(deadline - performance.now());
      } catch (err) {
        guard.breaker.record(ticket, 'neutral');
        if (err instanceof SlotTimeoutError) {
          throw new GatewayError(
            'EXECUTOR.UPSTREAM_TIMEOUT',
            `${toolName}'s upstream did not answer within ${settings.timeout_ms} ms (all ${settings.max_concurrency} call slots stayed busy)`,
          );
        }
        throw err;
      }
      let outcome: Outcome = 'neutral';
      let retryable = false;
      const remainingMs = deadline - performance.now();
      const controller = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      try {
        if (remainingMs <= 0) {
          // The budget went on waiting: the upstream was not called, so this judges nothing.
          release();
          lastError = timeout();
          break;
        }
        const expired = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => {
            const err = timeout();
            controller.abort(err);
            reject(err);
          }, remainingMs);
        });
        const call = Promise.resolve().then(() =>
          attempt({ signal: controller.signal, remainingMs, attempt: n }),
        );
        // The slot is held while the call is really in flight, even past our deadline.
        void call.then(release, release);
        const value = await Promise.race([call, expired]);
        outcome = 'success';
        return value;
      } catch (err) {
        // An attempt cut off by the deadline counts as a timeout, whatever it threw.
        lastError = controller.signal.aborted ? controller.signal.reason : err;
        ({ outcome, retryable } = this.classify(lastError));
      } finally {
        clearTimeout(timer);
        guard.breaker.record(ticket, outcome);
      }
      if (!retryable || n === maxAttempts) break;
      const delay = Math.random() * Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (n - 1));
      // Not worth starting an attempt that the deadline would cut short at once.
      if (performance.now() + delay >= deadline - 1) break;
      await sleep(delay);
    }
    throw lastError;
  }

  private guard(toolName: string, s: ResilienceSettings): Guard {
    const key = JSON.stringify([
      toolName,
      s.timeout_ms,
      s.max_concurrency,
      s.retries,
      s.circuit_breaker.failure_threshold,
      s.circuit_breaker.reset_after_ms,
    ]);
    let guard = this.guards.get(key);
    if (!guard) {
      // A Map keeps insertion order: a tool's newest guard is read last (its breaker gauge).
      guard = {
        tool: toolName,
        limiter: new ConcurrencyLimiter(s.max_concurrency),
        breaker: new CircuitBreaker(s.circuit_breaker),
      };
      this.guards.set(key, guard);
    }
    return guard;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
