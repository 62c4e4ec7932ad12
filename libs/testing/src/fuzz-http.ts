import { request as httpRequest, Agent, type RequestOptions } from 'node:http';
import fc from 'fast-check';
import {
  requestArbitrary,
  type FuzzInput,
  type FuzzRoute,
  type JsonSchema,
} from './fuzz-inputs.js';

/** The parts of an OpenAPI 3 document the fuzzer reads. */
export interface OpenApiDoc {
  paths: Record<
    string,
    Record<
      string,
      {
        parameters?: { name: string; in: string }[];
        requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
        responses?: Record<string, { content?: Record<string, unknown> }>;
      }
    >
  >;
}

const METHODS = new Set(['get', 'post', 'put', 'patch', 'delete']);

/** Every operation of `doc` as a route of `target`; `skip` leaves some out (by method and path). */
export function routesOf(
  doc: OpenApiDoc,
  target: string,
  skip: (method: string, path: string) => boolean = () => false,
): FuzzRoute[] {
  const routes: FuzzRoute[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (!METHODS.has(method) || skip(method, path)) continue;
      const params = op.parameters ?? [];
      const answers = Object.values(op.responses ?? {});
      routes.push({
        target,
        method,
        path,
        pathParams: params.filter((p) => p.in === 'path').map((p) => p.name),
        queryParams: params.filter((p) => p.in === 'query').map((p) => p.name),
        ...(op.requestBody
          ? { bodySchema: op.requestBody.content?.['application/json']?.schema ?? {} }
          : {}),
        json: answers.some((a) => a.content?.['application/json'] !== undefined),
      });
    }
  }
  return routes;
}

export type FindingKind = '5xx' | 'hang' | 'error-shape' | 'connection';

/** An answer that breaks the rules, with what it takes to send the same request again. */
export interface FuzzFinding {
  kind: FindingKind;
  route: string;
  seed: number;
  /** With the seed, gives the input again: fuzzInputAt(requestArbitrary(...), seed, index). */
  index: number;
  input: FuzzInput;
  status?: number;
  detail: string;
}

export interface FuzzAnswer {
  /** Status code, or undefined when no answer came (reset, hang). */
  status?: number;
  contentType?: string;
  body: string;
  /** An answer that streams (SSE) is not read to its end. */
  streaming: boolean;
  ms: number;
  error?: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/**
 * Sends `input` to `baseUrl` with node:http (which, unlike fetch, passes odd paths, repeated and
 * flooded headers and raw bytes as they are) and waits at most `deadlineMs` for the whole answer.
 */
export function sendFuzzInput(
  baseUrl: string,
  input: FuzzInput,
  deadlineMs: number,
): Promise<FuzzAnswer> {
  const url = new URL(baseUrl);
  const started = performance.now();
  const body = input.bodyBase64 !== undefined ? Buffer.from(input.bodyBase64, 'base64') : undefined;
  const headers: string[] = ['host', url.host, ...input.headers.flat()];
  if (body !== undefined) headers.push('content-length', String(body.length));
  return new Promise<FuzzAnswer>((resolve) => {
    let done = false;
    const finish = (a: Omit<FuzzAnswer, 'ms'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ ...a, ms: performance.now() - started });
    };
    let req: ReturnType<typeof httpRequest>;
    try {
      req = httpRequest({
        agent,
        host: url.hostname,
        port: url.port,
        method: input.method,
        path: input.path,
        headers,
        setDefaultHeaders: false,
      } as unknown as RequestOptions);
    } catch (err) {
      // The client refuses to send it (an invalid header, say): not the server's fault.
      resolve({ body: '', streaming: false, ms: 0, error: `not sent: ${(err as Error).message}` });
      return;
    }
    const timer = setTimeout(() => {
      req.destroy();
      finish({ body: '', streaming: false, error: `no answer within ${deadlineMs} ms` });
    }, deadlineMs);
    req.on('response', (res) => {
      const contentType = res.headers['content-type'];
      if (contentType?.startsWith('text/event-stream')) {
        res.destroy();
        finish({ status: res.statusCode!, contentType, body: '', streaming: true });
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        finish({
          status: res.statusCode!,
          ...(contentType ? { contentType } : {}),
          body: Buffer.concat(chunks).toString('utf8'),
          streaming: false,
        }),
      );
      res.on('error', (err) =>
        finish({ status: res.statusCode!, body: '', streaming: false, error: err.message }),
      );
    });
    req.on('error', (err) => finish({ body: '', streaming: false, error: err.message }));
    req.end(body);
  });
}

function degraded(body: string): boolean {
  try {
    return (JSON.parse(body) as { status?: unknown }).status === 'degraded';
  } catch {
    return false;
  }
}

/** What is wrong with `answer` to `input` on `route`, or undefined when it is fine. */
export function judge(
  route: FuzzRoute | undefined,
  answer: FuzzAnswer,
): { kind: FindingKind; detail: string } | undefined {
  if (answer.error?.startsWith('no answer')) return { kind: 'hang', detail: answer.error };
  if (answer.error?.startsWith('not sent')) return undefined;
  if (answer.status === undefined) {
    // Node's parser closes the socket on what it cannot parse (a huge header, a bad path).
    return /ECONNRESET|socket hang up|EPIPE/.test(answer.error ?? '')
      ? undefined
      : { kind: 'connection', detail: answer.error ?? 'no status' };
  }
  // A health report that says degraded (a check slower than 1 s on a loaded machine) is the
  // endpoint's documented answer; whether the fuzzing broke the gateway is checked at the end.
  if (answer.status === 503 && /^\/healthz?$/.test(route?.path ?? '') && degraded(answer.body))
    return undefined;
  if (answer.status >= 500)
    return { kind: '5xx', detail: `${answer.status} ${answer.body.slice(0, 300)}` };
  if (answer.status >= 400 && route?.json && answer.body.length) {
    let body: { jsonrpc?: unknown; error?: { code?: unknown } } | undefined;
    try {
      body = JSON.parse(answer.body) as typeof body;
    } catch {
      body = undefined;
    }
    // MCP answers with JSON-RPC errors (a numeric code), as its protocol requires.
    const jsonRpc = body?.jsonrpc === '2.0' && typeof body.error?.code === 'number';
    if (typeof body?.error?.code !== 'string' && !jsonRpc)
      return {
        kind: 'error-shape',
        detail: `${answer.status} without error.code: ${answer.body.slice(0, 200)}`,
      };
  }
  return undefined;
}

/**
 * The index-th input of a run: drawn from its own seed, so inputs are made one at a time (a
 * 100,000-input run never holds them all) and any one can be drawn again without the others.
 */
export function fuzzInputAt<T>(arbitrary: fc.Arbitrary<T>, seed: number, index: number): T {
  return fc.sample(arbitrary, { seed: (seed + Math.imul(index, 0x9e3779b1)) | 0, numRuns: 1 })[0]!;
}

export interface HttpFuzzOptions {
  /** Base URL per target: { ingress: 'http://127.0.0.1:8080', federation: ... }. */
  targets: Record<string, string>;
  routes: FuzzRoute[];
  /** Header sets to try besides none: the admin key, an agent key. */
  credentials: Record<string, string>[];
  seed: number;
  runs: number;
  /** How long an answer may take before it counts as a hang. */
  deadlineMs?: number;
  concurrency?: number;
  /** Findings kept with their input per kind, status and route (the rest are only counted); 20. */
  maxFindingsEach?: number;
  /** Called after each answer (for counts per route, progress). */
  onAnswer?: (input: FuzzInput, answer: FuzzAnswer, finding?: FuzzFinding) => void;
}

export interface FuzzReport {
  inputs: number;
  findings: FuzzFinding[];
  /** Every finding counted by kind, status and route, including those not kept. */
  findingCounts: Record<string, number>;
  perRoute: Record<string, { inputs: number; statuses: Record<string, number> }>;
  ms: number;
}

/**
 * Sends `runs` requests generated from `seed` over `routes` and returns the findings: any 5xx,
 * an answer later than the deadline, a JSON route's 4xx without error.code, a connection that
 * fails otherwise than by the server refusing what it cannot parse. The same seed gives the same
 * inputs, in batches of `concurrency`.
 */
export async function fuzzHttp(opts: HttpFuzzOptions): Promise<FuzzReport> {
  const deadlineMs = opts.deadlineMs ?? 10_000;
  const concurrency = opts.concurrency ?? 16;
  const arbitrary = requestArbitrary(opts.routes, opts.credentials);
  const routeOf = (input: FuzzInput) =>
    opts.routes.find(
      (r) =>
        r.target === input.target &&
        r.method.toUpperCase() === input.method &&
        r.path === input.route,
    );
  const report: FuzzReport = {
    inputs: 0,
    findings: [],
    findingCounts: {},
    perRoute: {},
    ms: 0,
  };
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < opts.runs) {
      const index = next++;
      const input = fuzzInputAt(arbitrary, opts.seed, index);
      const route = routeOf(input);
      const key = route
        ? `${route.target} ${route.method.toUpperCase()} ${route.path}`
        : `${input.target} ${input.method} ?`;
      const answer = await sendFuzzInput(opts.targets[input.target]!, input, deadlineMs);
      const bad = judge(route, answer);
      const stats = (report.perRoute[key] ??= { inputs: 0, statuses: {} });
      stats.inputs++;
      const status = String(answer.status ?? 'closed');
      stats.statuses[status] = (stats.statuses[status] ?? 0) + 1;
      report.inputs++;
      let finding: FuzzFinding | undefined;
      if (bad) {
        finding = { ...bad, route: key, seed: opts.seed, index, input };
        if (answer.status !== undefined) finding.status = answer.status;
        const counted = `${bad.kind} ${answer.status ?? ''} ${key}`;
        report.findingCounts[counted] = (report.findingCounts[counted] ?? 0) + 1;
        if (report.findingCounts[counted]! <= (opts.maxFindingsEach ?? 20))
          report.findings.push(finding);
      }
      opts.onAnswer?.(input, answer, finding);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  report.ms = performance.now() - started;
  return report;
}
