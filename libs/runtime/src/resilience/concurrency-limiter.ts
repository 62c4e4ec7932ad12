/** Thrown by ConcurrencyLimiter.acquire when the wait outlives its deadline. */
export class SlotTimeoutError extends Error {
  override name = 'SlotTimeoutError';
}

/**
 * At most `max` holders at once; others wait in FIFO order until a slot frees or their own
 * deadline passes (they then leave the queue with SlotTimeoutError).
 */
export class ConcurrencyLimiter {
  private active = 0;
  private readonly waiting: Array<{ grant: () => void }> = [];

  constructor(readonly max: number) {}

  get inFlight(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Resolves with a release function once a slot is held; call it exactly once. */
  acquire(timeoutMs: number): Promise<() => void> {
    if (this.active < this.max) {
      this.active += 1;
      return Promise.resolve(this.releaser());
    }
    if (timeoutMs <= 0) return Promise.reject(new SlotTimeoutError('no free slot'));
    return new Promise((resolve, reject) => {
      const entry = {
        grant: () => {
          clearTimeout(timer);
          resolve(this.releaser());
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiting.indexOf(entry);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new SlotTimeoutError('no free slot'));
      }, timeoutMs);
      this.waiting.push(entry);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter: `active` stays the same.
      if (next) next.grant();
      else this.active -= 1;
    };
  }
}
