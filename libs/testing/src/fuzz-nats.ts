import { connect as natsConnect } from '@nats-io/transport-node';
import fc from 'fast-check';
import { bodyArbitrary, type JsonSchema } from './fuzz-inputs.js';
import { fuzzInputAt } from './fuzz-http.js';

/** A NATS request that got no valid answer, with what it takes to send it again. */
export interface NatsFuzzFinding {
  subject: string;
  seed: number;
  index: number;
  kind: string;
  payloadBase64: string;
  detail: string;
}

export interface NatsFuzzOptions {
  natsUrl: string;
  /** The gateway's SUBJECT_PREFIX ('' for none). */
  prefix: string;
  /** The request subjects to fuzz (the keys of REQUESTS in @sg/contracts). */
  subjects: string[];
  /** The request's JSON schema per subject, for valid-ish payloads (z.toJSONSchema of REQUESTS). */
  schemas?: Record<string, JsonSchema>;
  seed: number;
  runs: number;
  /** How long a handler may take to answer before it counts as a hang. */
  deadlineMs?: number;
  concurrency?: number;
}

export interface NatsFuzzReport {
  inputs: number;
  findings: NatsFuzzFinding[];
  perSubject: Record<string, { inputs: number; errors: Record<string, number> }>;
  ms: number;
}

/**
 * Sends random JSON and garbage to the request subjects and checks each answer: a reply
 * `{ ok: true, data }` or `{ ok: false, error: { code } }` with a code other than
 * GATEWAY.INTERNAL (a handler that threw something unexpected), in time. No reply (no
 * responders left, a timeout) is a finding: the service crashed or hangs.
 */
export async function fuzzNats(opts: NatsFuzzOptions): Promise<NatsFuzzReport> {
  const deadlineMs = opts.deadlineMs ?? 10_000;
  const nc = await natsConnect({ servers: opts.natsUrl });
  const arbitrary = fc
    .constantFrom(...opts.subjects)
    .chain((subject) =>
      bodyArbitrary(opts.schemas?.[subject]).map((body) => [subject, body] as const),
    );
  const report: NatsFuzzReport = { inputs: 0, findings: [], perSubject: {}, ms: 0 };
  const started = performance.now();
  const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
  let next = 0;
  const worker = async () => {
    while (next < opts.runs) {
      const index = next++;
      const [subject, [kind, payload]] = fuzzInputAt(arbitrary, opts.seed, index);
      if (payload.length > maxPayload - 4096) continue; // the bus refuses it before sending
      const wire = opts.prefix ? `${opts.prefix}.${subject}` : subject;
      const stats = (report.perSubject[subject] ??= { inputs: 0, errors: {} });
      stats.inputs++;
      report.inputs++;
      let detail: string | undefined;
      let outcome = 'ok';
      try {
        const msg = await nc.request(wire, payload, { timeout: deadlineMs });
        const reply = JSON.parse(msg.string()) as { ok?: boolean; error?: { code?: unknown } };
        if (reply.ok === true) outcome = 'ok';
        else if (reply.ok === false && typeof reply.error?.code === 'string') {
          outcome = reply.error.code;
          if (outcome === 'GATEWAY.INTERNAL') detail = `answered ${msg.string().slice(0, 200)}`;
        } else detail = `malformed reply ${msg.string().slice(0, 200)}`;
      } catch (err) {
        outcome = 'no-answer';
        detail = (err as Error).message;
      }
      stats.errors[outcome] = (stats.errors[outcome] ?? 0) + 1;
      if (detail)
        report.findings.push({
          subject,
          seed: opts.seed,
          index,
          kind,
          payloadBase64: payload.toString('base64'),
          detail,
        });
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, worker));
  } finally {
    await nc.close();
  }
  report.ms = performance.now() - started;
  return report;
}
