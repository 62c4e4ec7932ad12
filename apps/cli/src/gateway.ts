import type { Credential } from './config/env.js';
import { CliError, ExitCode, UsageError, exitCodeForStatus } from './exit-codes.js';
import { printable } from './format.js';

/** The gateway's error body: `{error: {code, message, details?}, trace_id}` (docs/errors.md). */
export interface ErrorAnswer {
  error: { code: string; message: string; details?: unknown };
  trace_id?: string;
}

export type Query = Record<string, string | number | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * Answers that are outcomes rather than errors although their status is not 2xx (an approval
   * that the re-check denied is a 403 with the approval's status): returned, not thrown.
   */
  outcome?: (status: number, body: unknown) => boolean;
}

export interface Answer<T> {
  status: number;
  body: T;
}

/** The one gateway error of an answer, as `sg` prints it. */
export class GatewayAnswerError extends CliError {
  override name = 'GatewayAnswerError';
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly details: unknown,
    readonly traceId: string | undefined,
  ) {
    super(message, exitCodeForStatus(status), code, problemLines(details));
  }
}

/** The problems a 422 or a lint failure carries in `details.problems`, one line each. */
function problemLines(details: unknown): string[] {
  const problems = (details as { problems?: unknown } | undefined)?.problems;
  if (!Array.isArray(problems)) return [];
  return problems.map(
    (p: { file?: string; line?: number | null; column?: number | null; reason?: string }) =>
      `  ${[p.file ?? '', p.line ?? null, p.column ?? null].filter((x) => x !== null && x !== '').join(':')}: ${p.reason ?? ''}`,
  );
}

/**
 * One path segment, encoded. `.` and `..` (even encoded) would be resolved away by the URL and
 * reach another endpoint, so they are refused: no id is made of dots.
 */
export function segment(value: string): string {
  if (/^\.{1,2}$/.test(value)) throw new UsageError(`"${value}" is not an id`);
  return encodeURIComponent(value);
}

/** The base URL, checked: http(s), no credentials in it, a trailing slash to resolve paths on. */
export function gatewayUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(
      `--url ${JSON.stringify(printable(raw))} is not a URL; give e.g. http://127.0.0.1:8080`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--url must be http:// or https://, not ${url.protocol}`);
  if (url.username || url.password)
    throw new UsageError(
      '--url must not hold a user or password; put the credential in SG_ADMIN_KEY or SG_TOKEN',
    );
  if (url.search || url.hash) throw new UsageError('--url takes no query string or fragment');
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** A plain-http URL to another machine sends the credential in the clear. */
export function isCleartextRemote(url: URL): boolean {
  return (
    url.protocol === 'http:' &&
    !['localhost', '127.0.0.1', '[::1]'].includes(url.hostname) &&
    !url.hostname.endsWith('.localhost')
  );
}

/**
 * The ingress's admin API over HTTP (docs/api.md). Every failure becomes a CliError with the
 * exit status it means: the gateway's own error code and message when it answered, 5 when it
 * could not be reached or took too long.
 */
export class Gateway {
  constructor(
    readonly base: URL,
    private readonly credential: Credential | null,
    /** Longest wait for an answer (for a stream: for each piece of it). */
    readonly timeoutMs: number,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  urlOf(path: string, query: Query = {}): URL {
    const url = new URL(path.replace(/^\//, ''), this.base);
    for (const [k, v] of Object.entries(query))
      if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /** A JSON request; a non-2xx answer (unless `outcome` takes it) is thrown as its error. */
  async json<T>(
    method: 'GET' | 'POST',
    path: string,
    opts: RequestOptions = {},
  ): Promise<Answer<T>> {
    const res = await this.send(method, path, opts, AbortSignal.timeout(this.timeoutMs));
    const body = await this.readJson(res);
    if (res.ok || opts.outcome?.(res.status, body)) return { status: res.status, body: body as T };
    throw this.errorOf(res.status, body);
  }

  /**
   * A streamed GET (the JSONL export): the answer once its headers arrived, and an `alive`
   * callback that the reader calls on each chunk, so the timeout is one of silence, not of the
   * whole download.
   */
  async stream(
    path: string,
    query: Query,
  ): Promise<{ body: ReadableStream<Uint8Array>; alive(): void; done(): void }> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => controller.abort(new DOMException('no data', 'TimeoutError')),
        this.timeoutMs,
      );
    };
    const done = () => clearTimeout(timer);
    alive();
    try {
      const res = await this.send('GET', path, { query }, controller.signal);
      if (!res.ok) throw this.errorOf(res.status, await this.readJson(res));
      if (!res.body)
        throw new CliError('the gateway answered without a body', ExitCode.Unavailable);
      return { body: res.body, alive, done };
    } catch (err) {
      done();
      throw err;
    }
  }

  private async send(
    method: string,
    path: string,
    opts: RequestOptions,
    signal: AbortSignal,
  ): Promise<Response> {
    if (!this.credential)
      throw new CliError(
        'no credential: set SG_ADMIN_KEY (an admin key) or SG_TOKEN (an admin OIDC token) in the environment',
        ExitCode.Auth,
      );
    const url = this.urlOf(path, opts.query);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': 'sg-cli',
      ...opts.headers,
      [this.credential.header]: this.credential.value,
    };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        // A redirect could carry X-Admin-Key to another host: never follow one.
        redirect: 'manual',
        signal,
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      const to = res.headers.get('location');
      throw new UsageError(
        `${this.where()} redirects${to ? ` to ${printable(to)}` : ''}; give the final address with --url (sg does not follow redirects, so that the credential goes nowhere else)`,
      );
    }
    return res;
  }

  private async readJson(res: Response): Promise<unknown> {
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.unreachable(err);
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      const code = res.ok ? ExitCode.Unavailable : exitCodeForStatus(res.status);
      throw new CliError(
        `${this.where()} answered HTTP ${res.status} with a body that is not JSON; is --url the gateway's ingress?`,
        code,
      );
    }
  }

  /** A non-2xx answer as its error: the gateway's code and message when the body has them. */
  errorOf(status: number, body: unknown): CliError {
    const error = (body as Partial<ErrorAnswer> | null)?.error;
    if (error && typeof error.code === 'string' && typeof error.message === 'string')
      return new GatewayAnswerError(
        status,
        error.code,
        error.message,
        error.details,
        (body as ErrorAnswer).trace_id,
      );
    return new CliError(`${this.where()} answered HTTP ${status}`, exitCodeForStatus(status));
  }

  private unreachable(err: unknown): CliError {
    const e = err as {
      name?: string;
      message?: string;
      cause?: { code?: string; message?: string };
    };
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError')
      return new CliError(
        `${this.where()} did not answer within ${Math.round(this.timeoutMs / 1000)} s; try again, or raise --timeout`,
        ExitCode.Unavailable,
      );
    const why = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
    return new CliError(
      `cannot reach ${this.where()} (${printable(why)}); check --url or SG_URL, and that the gateway runs`,
      ExitCode.Unavailable,
    );
  }

  private where(): string {
    return `the gateway at ${this.base.origin}${this.base.pathname === '/' ? '' : this.base.pathname}`;
  }
}
