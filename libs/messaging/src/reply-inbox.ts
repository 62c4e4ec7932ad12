import { createInbox, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';

/** Nobody subscribes to the subject: the server answered 503 at once. */
export class NoResponders extends Error {}
/** No answer within the time given. */
export class ReplyTimeout extends Error {}

/**
 * The messages a process sends in one turn of its event loop, handed to the NATS client
 * together at the end of the turn, so that they leave in one socket write. nats.js writes once
 * per microtask checkpoint: under load, every HTTP request, Redis answer and NATS message that
 * arrives on its own socket event would otherwise cost a write of its own, the largest item in
 * each service's profile (bench/README.md). Costs at most the rest of the current turn.
 */
export class Turn {
  private queue: Array<() => void> = [];

  /** Runs `send` (which must not throw) at the end of this turn, with every other one sent in it. */
  send(send: () => void): void {
    if (this.queue.push(send) === 1) setImmediate(() => this.flush());
  }

  private flush() {
    const queue = this.queue;
    this.queue = [];
    for (const send of queue) send();
  }
}

interface Waiter {
  resolve(msg: Msg): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Request/reply over one wildcard inbox subscription, a token per request: what nats.js's own
 * request() does, without the two Error objects (with their stacks) it makes for every request,
 * answered or not, which cost about a twentieth of a hot-path service's CPU. Also carries the
 * JetStream publishes (a publish is a request whose answer is the stream's acknowledgement).
 */
export class ReplyInbox {
  private readonly prefix = createInbox();
  private readonly waiting = new Map<string, Waiter>();
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly turn: Turn,
  ) {
    nc.subscribe(`${this.prefix}.*`, { callback: (_err, msg) => this.answered(msg) });
    void nc.closed().then(() => {
      for (const w of this.waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new Error('the NATS connection is closed'));
      }
      this.waiting.clear();
    });
  }

  /** Publishes `data` to `subject` and resolves with the first answer; rejects with NoResponders, ReplyTimeout or the publish's error. */
  request(
    subject: string,
    data: Uint8Array,
    headers: MsgHdrs | undefined,
    timeoutMs: number,
  ): Promise<Msg> {
    return new Promise<Msg>((resolve, reject) => {
      const token = (this.next++).toString(36);
      const timer = setTimeout(() => {
        this.waiting.delete(token);
        reject(new ReplyTimeout(`no answer on ${subject} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(token, { resolve, reject, timer });
      this.turn.send(() => {
        try {
          this.nc.publish(subject, data, { reply: `${this.prefix}.${token}`, headers });
        } catch (err) {
          clearTimeout(timer);
          this.waiting.delete(token);
          reject(err as Error);
        }
      });
    });
  }

  private answered(msg: Msg) {
    const token = msg.subject.slice(this.prefix.length + 1);
    const w = this.waiting.get(token);
    if (!w) return; // timed out already
    this.waiting.delete(token);
    clearTimeout(w.timer);
    if (msg.data.length === 0 && msg.headers?.code === 503)
      w.reject(new NoResponders(`no one serves ${msg.subject}`));
    else w.resolve(msg);
  }
}
