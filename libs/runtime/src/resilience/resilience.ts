import { GatewayError } from '@sg/contracts';
import type { Metrics } from '../metrics.js';
import { inSpan, SpanKind } from '../tracing.js';
import { type BreakerSettings, CircuitBreaker, type Outcome } from './circuit-breaker.js';
import { ConcurrencyLimiter, SlotTimeoutError } from './concurrency-limiter.js';

/** The resilience settings of a guarded name (a tool's upstream: libs/config resilienceShape; a peer). */
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

/**
 * What guarded calls are: a tool's upstream (the executor) or a peer gateway (federation). It
 * names their errors, their span and their metrics.
 */
export interface ResilienceProfile {
  /** The span's name is `<span> <name>`; `upstream` or `peer`. */
  span: string;
  /** The metric label that names the guarded thing (`tool`, `peer`) and the span attribute `sg.<label>`. */
  label: string;
  /** `<prefix>_request_duration_seconds` and `<prefix>_breaker_state`. */
  metricPrefix: string;
  /** The error for a call past its deadline (`slots`: when the wait for a call slot took it all). */
  timeout(name: string, timeoutMs: number, slots?: number): GatewayError;
  /** The error for a call refused by an open breaker. */
  circuitOpen(name: string, retryAfterMs: number): GatewayError;
  /** How a failure counts for the breaker, and whether an idempotent call may try again. */
  classify(err: unknown): FailureClass;
}

export interface ResilienceOptions {
  /** First backoff step; attempt n waits a random time in [0, base * 2^(n-1)] (full jitter). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  classify?: (err: unknown) => FailureClass;
}

interface Guard {
  name: string;
  limiter: ConcurrencyLimiter;
  breaker: CircuitBreaker;
}

/** The breaker gauge's values. */
const BREAKER_STATE = { closed: 0, half_open: 1, open: 2 } as const;

/**
 * Timeout, concurrency limit, circuit breaker and retries around any remote call, per guarded
 * name (a tool, a peer). State is keyed by the name and its settings: an edit that changes them
 * starts afresh. The state lives in this process (each replica has its own breakers).
 *
 * Generic over the transport: `resilience.run(name, settings, idempotent, (ctx) => call(..., ctx.signal))`.
 */
export class Resilience {
  private readonly guards = new Map<string, Guard>();
  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly classify: (err: unknown) => FailureClass;
  private readonly latency: ReturnType<Metrics['histogram']> | undefined;

  constructor(
    private readonly profile: ResilienceProfile,
    options: ResilienceOptions | null = null,
    metrics?: Metrics,
  ) {
    options ??= {};
    this.backoffBaseMs = options.backoffBaseMs ?? 50;
    this.backoffMaxMs = options.backoffMaxMs ?? 1000;
    this.classify = options.classify ?? profile.classify;
    const label = profile.label;
    this.latency = metrics?.histogram({
      name: `${profile.metricPrefix}_request_duration_seconds`,
      help: `Calls by ${label} and outcome ('ok' or the error code), retries and waits included`,
      labelNames: [label, 'outcome'],
    });
    const guards = this.guards;
    metrics?.gauge({
      name: `${profile.metricPrefix}_breaker_state`,
      help: `Each ${label}'s circuit breaker: 0 closed, 1 half-open, 2 open`,
      labelNames: [label],
      collect() {
        this.reset();
        // A name whose settings changed has a guard per settings; the newest, set last, is live.
        for (const g of guards.values())
          this.set({ [label]: g.name }, BREAKER_STATE[g.breaker.state]);
      },
    });
  }

  /** The breaker of a name with these settings (for health and tests). */
  breaker(name: string, settings: ResilienceSettings): CircuitBreaker {
    return this.guard(name, settings).breaker;
  }

  /**
   * Runs `attempt` under the name's protections. The whole call (waiting for a slot, every
   * attempt, backoff) is bounded by `timeout_ms`; past it the call fails with the profile's
   * timeout error whether or not the attempt honours its signal. An open breaker answers the
   * profile's circuit-open error without calling. Retries (at most `retries`) happen only when
   * `idempotent` and only after a retryable failure, with exponential backoff and full jitter.
   */
  async run<T>(
    toolName: string,
    settings: ResilienceSettings,
    idempotent: boolean,
    attempt: (ctx: AttemptContext) => Promise<T>,
  ): Promise<T> {
    // The remote call's span: a child of the handler's span (the active one).
    const call = () =>
      inSpan(
        `${this.profile.span} ${toolName}`,
        SpanKind.CLIENT,
        { [`sg.${this.profile.label}`]: toolName },
        () => this.guarded(toolName, settings, idempotent, attempt),
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
      this.latency.observe(
        { [this.profile.label]: toolName, outcome },
        (performance.now() - started) / 1000,
      );
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
    const timeout = () => this.profile.timeout(toolName, settings.timeout_ms);
    const maxAttempts = idempotent ? 1 + settings.retries : 1;
    let lastError: unknown;
    for (let n = 1; n <= maxAttempts; n++) {
      const ticket = guard.breaker.tryAcquire();
      if (!ticket) {
        if (n > 1) throw lastError;
        throw this.profile.circuitOpen(toolName, guard.breaker.retryAfterMs);
      }
      let release: () => void;
      try {
        release = await guard.limiter.acquire(deadline - performance.now());
      } catch (err) {
        guard.breaker.record(ticket, 'neutral');
        if (err instanceof SlotTimeoutError) {
          throw this.profile.timeout(toolName, settings.timeout_ms, settings.max_concurrency);
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
      // A Map keeps insertion order: a name's newest guard is read last (its breaker gauge).
      guard = {
        name: toolName,
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
