import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import fc from 'fast-check';
import { fuzzInputAt } from './fuzz-http.js';
import { bodyArbitrary, type JsonSchema } from './fuzz-inputs.js';

export interface EventFuzzOptions {
  natsUrl: string;
  /** The gateway's SUBJECT_PREFIX ('' for none). */
  prefix: string;
  /** Event subjects (the keys of EVENTS in @sg/contracts), published to JetStream. */
  subjects: string[];
  /** The envelope's JSON schema per event subject, for valid-ish events. */
  schemas?: Record<string, JsonSchema>;
  /** Core NATS subjects the services subscribe to without JetStream (the audit live feed...). */
  coreSubjects?: string[];
  seed: number;
  runs: number;
}

export interface EventFuzzReport {
  inputs: number;
  /** Inputs JetStream stored (the rest were refused: too large, or core NATS). */
  stored: number;
  perSubject: Record<string, number>;
  ms: number;
}

/**
 * Publishes `runs` random events generated from `seed` where the services' event handlers read
 * them: JetStream (the stream every consumer reads) and the core subjects they subscribe to.
 * What the handlers make of them is judged by the caller: the services stay up and healthy,
 * their consumers drain (consumersBehind), and real events are still handled afterwards.
 */
export async function fuzzEvents(opts: EventFuzzOptions): Promise<EventFuzzReport> {
  const nc = await natsConnect({ servers: opts.natsUrl });
  const js = jetstream(nc);
  const core = new Set(opts.coreSubjects ?? []);
  const arbitrary = fc
    .constantFrom(...opts.subjects, ...core)
    .chain((subject) =>
      bodyArbitrary(opts.schemas?.[subject]).map((body) => [subject, body] as const),
    );
  const report: EventFuzzReport = { inputs: 0, stored: 0, perSubject: {}, ms: 0 };
  const started = performance.now();
  const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
  try {
    for (let index = 0; index < opts.runs; index++) {
      const [subject, [, payload]] = fuzzInputAt(arbitrary, opts.seed, index);
      if (payload.length > maxPayload - 4096) continue;
      const wire = opts.prefix ? `${opts.prefix}.${subject}` : subject;
      report.inputs++;
      report.perSubject[subject] = (report.perSubject[subject] ?? 0) + 1;
      if (core.has(subject)) {
        nc.publish(wire, payload);
        continue;
      }
      await js.publish(wire, payload, { msgID: `fuzz-${opts.seed}-${index}` });
      report.stored++;
    }
    await nc.flush();
  } finally {
    await nc.close();
  }
  report.ms = performance.now() - started;
  return report;
}

/**
 * The durable consumers of `stream` that still hold messages (pending or unacknowledged), with
 * how many: empty once every handler has dealt with everything published.
 */
export async function consumersBehind(
  natsUrl: string,
  stream: string,
): Promise<Record<string, number>> {
  const nc = await natsConnect({ servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    const behind: Record<string, number> = {};
    for await (const info of jsm.consumers.list(stream)) {
      const n = info.num_pending + info.num_ack_pending;
      if (n > 0) behind[info.name] = n;
    }
    return behind;
  } finally {
    await nc.close();
  }
}
