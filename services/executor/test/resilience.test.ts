import { GatewayError } from '@sg/contracts';
import {
  CircuitBreaker,
  ConcurrencyLimiter,
  SlotTimeoutError,
  type ResilienceSettings,
} from '@sg/runtime';
import { classifyFailure, UpstreamResilience } from '../src/resilience/index.js';

const settings = (over: Partial<ResilienceSettings> = {}): ResilienceSettings => ({
  timeout_ms: 1000,
  max_concurrency: 4,
  retries: 2,
  circuit_breaker: { failure_threshold: 3, reset_after_ms: 1000 },
  ...over,
});

const upstreamError = (status: number) =>
  new GatewayError('EXECUTOR.UPSTREAM_ERROR', `HTTP ${status}`, { upstream_status: status });
const unreachable = () => new GatewayError('EXECUTOR.UPSTREAM_UNREACHABLE', 'down');

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as GatewayError).code;
  }
  throw new Error('expected a failure');
}

describe('CircuitBreaker (state machine, fake clock)', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => (now = 0));

  it('opens after failure_threshold consecutive failures, and a success in between resets the count', () => {
    const b = new CircuitBreaker({ failure_threshold: 3, reset_after_ms: 100 }, clock);
    for (const outcome of ['failure', 'failure', 'success', 'failure', 'failure'] as const)
      b.record(b.tryAcquire()!, outcome);
    expect(b.state).toBe('closed');
    b.record(b.tryAcquire()!, 'failure');
    expect(b.state).toBe('open');
    expect(b.tryAcquire()).toBeNull();
    expect(b.retryAfterMs).toBe(100);
  });

  it('half-opens after reset_after_ms with exactly one trial; its failure reopens, its success closes', () => {
    const b = new CircuitBreaker({ failure_threshold: 1, reset_after_ms: 100 }, clock);
    b.record(b.tryAcquire()!, 'failure');
    now = 99;
    expect(b.tryAcquire()).toBeNull();
    now = 100;
    expect(b.state).toBe('half_open');
    const trial = b.tryAcquire();
    expect(trial).toEqual({ trial: true });
    expect(b.tryAcquire()).toBeNull();
    b.record(trial!, 'failure');
    expect(b.state).toBe('open');
    now = 250;
    const second = b.tryAcquire()!;
    b.record(second, 'success');
    expect(b.state).toBe('closed');
    expect(b.tryAcquire()).toEqual({ trial: false });
  });

  it('a neutral trial frees the trial slot without closing or reopening', () => {
    const b = new CircuitBreaker({ failure_threshold: 1, reset_after_ms: 10 }, clock);
    b.record(b.tryAcquire()!, 'failure');
    now = 10;
    b.record(b.tryAcquire()!, 'neutral');
    expect(b.state).toBe('half_open');
    expect(b.tryAcquire()).toEqual({ trial: true });
  });
});

describe('ConcurrencyLimiter', () => {
  it('hands slots out FIFO and times out waiters that wait too long', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const release = await limiter.acquire(100);
    const order: string[] = [];
    const a = limiter.acquire(1000).then((r) => (order.push('a'), r));
    const late = limiter.acquire(30);
    const b = limiter.acquire(1000).then((r) => (order.push('b'), r));
    await expect(late).rejects.toBeInstanceOf(SlotTimeoutError);
    expect(limiter.queued).toBe(2);
    release();
    (await a)();
    (await b)();
    expect(order).toEqual(['a', 'b']);
    expect(limiter.inFlight).toBe(0);
  });
});

describe('classifyFailure', () => {
  it.each([
    ['timeout', new GatewayError('EXECUTOR.UPSTREAM_TIMEOUT', 't'), 'failure', true],
    ['unreachable', unreachable(), 'failure', true],
    ['502', upstreamError(502), 'failure', true],
    ['503', upstreamError(503), 'failure', true],
    ['504', upstreamError(504), 'failure', true],
    ['500', upstreamError(500), 'failure', false],
    ['404', upstreamError(404), 'success', false],
    ['429', upstreamError(429), 'success', false],
    ['SSRF refusal', new GatewayError('EXECUTOR.SSRF_REFUSED', 'no'), 'neutral', false],
    ['missing secret', new GatewayError('EXECUTOR.SECRET_MISSING', 'no'), 'neutral', false],
  ])('%s', (_label, err, outcome, retryable) => {
    expect(classifyFailure(err)).toEqual({ outcome, retryable });
  });
});

describe('UpstreamResilience.run', () => {
  const fast = () => new UpstreamResilience({ backoffBaseMs: 5 });

  it('retries an idempotent call after retryable failures, and succeeds when the upstream recovers', async () => {
    let attempts = 0;
    const out = await fast().run('t', settings(), true, async (ctx) => {
      attempts++;
      expect(ctx.attempt).toBe(attempts);
      if (attempts < 3) throw upstreamError(503);
      return 'ok';
    });
    expect(out).toBe('ok');
    expect(attempts).toBe(3);
  });

  it('never retries a tool that is not idempotent, nor a non-retryable failure', async () => {
    let attempts = 0;
    expect(
      await codeOf(
        fast().run('t', settings(), false, async () => (attempts++, Promise.reject(unreachable()))),
      ),
    ).toBe('EXECUTOR.UPSTREAM_UNREACHABLE');
    expect(attempts).toBe(1);
    attempts = 0;
    expect(
      await codeOf(
        fast().run(
          't',
          settings(),
          true,
          async () => (attempts++, Promise.reject(upstreamError(500))),
        ),
      ),
    ).toBe('EXECUTOR.UPSTREAM_ERROR');
    expect(attempts).toBe(1);
  });

  it('makes at most 1 + retries attempts', async () => {
    let attempts = 0;
    await codeOf(
      fast().run(
        't',
        settings({ retries: 4, circuit_breaker: { failure_threshold: 100, reset_after_ms: 1000 } }),
        true,
        async () => (attempts++, Promise.reject(unreachable())),
      ),
    );
    expect(attempts).toBe(5);
  });

  it('bounds the whole call, retries included, by timeout_ms, even when an attempt ignores its signal', async () => {
    const started = performance.now();
    let attempts = 0;
    const code = await codeOf(
      new UpstreamResilience({ backoffBaseMs: 1 }).run(
        't',
        settings({ timeout_ms: 150, retries: 5 }),
        true,
        async () => {
          attempts++;
          if (attempts === 1) throw unreachable();
          return new Promise(() => undefined);
        },
      ),
    );
    expect(code).toBe('EXECUTOR.UPSTREAM_TIMEOUT');
    // One budget for all attempts: five attempts of 150 ms each would take 750 ms.
    expect(performance.now() - started).toBeLessThan(600);
    expect(attempts).toBe(2);
  });

  it('aborts the attempt signal at the deadline', async () => {
    let signal: AbortSignal | undefined;
    await codeOf(
      fast().run(
        't',
        settings({ timeout_ms: 50 }),
        false,
        (ctx) => (
          (signal = ctx.signal),
          new Promise((_r, reject) =>
            ctx.signal.addEventListener('abort', () => reject(new Error('aborted'))),
          )
        ),
      ),
    );
    expect(signal?.aborted).toBe(true);
  });

  it('answers CIRCUIT_OPEN without calling once the breaker is open', async () => {
    const r = fast();
    const s = settings({ circuit_breaker: { failure_threshold: 2, reset_after_ms: 60_000 } });
    let attempts = 0;
    const attempt = async () => (attempts++, Promise.reject(upstreamError(500)));
    await codeOf(r.run('t', s, false, attempt));
    await codeOf(r.run('t', s, false, attempt));
    const err = await r.run('t', s, false, attempt).catch((e: GatewayError) => e);
    expect((err as GatewayError).code).toBe('EXECUTOR.CIRCUIT_OPEN');
    expect((err as GatewayError).details).toMatchObject({ retry_after_ms: expect.any(Number) });
    expect(attempts).toBe(2);
    // Another tool has its own breaker.
    expect(await r.run('other', s, false, async () => 'ok')).toBe('ok');
  });

  it('keeps at most max_concurrency attempts in flight; a waiter gives up at its timeout with UPSTREAM_TIMEOUT', async () => {
    const r = fast();
    const s = settings({ max_concurrency: 1, timeout_ms: 200 });
    let inFlight = 0;
    let peak = 0;
    let finish!: () => void;
    const held = r.run('t', { ...s, timeout_ms: 200 }, false, () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      // Ignores its signal: the slot stays taken until it really settles.
      return new Promise<string>((resolve) => (finish = () => (inFlight--, resolve('first'))));
    });
    let secondCalled = false;
    const waiter = r.run('t', s, false, async () => ((secondCalled = true), 'second'));
    const err = await waiter.catch((e: GatewayError) => e);
    expect((err as GatewayError).code).toBe('EXECUTOR.UPSTREAM_TIMEOUT');
    expect((err as GatewayError).message).toContain('slots');
    expect(secondCalled).toBe(false);
    expect(await codeOf(held)).toBe('EXECUTOR.UPSTREAM_TIMEOUT');
    finish();
    expect(await r.run('t', s, false, async () => 'third')).toBe('third');
    expect(peak).toBe(1);
  });
});
