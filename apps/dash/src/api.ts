/**
 * The admin API as the dashboard calls it: same origin, the `sg_dash` session cookie, and the
 * session's CSRF token on every write. Errors keep the gateway's stable code and its message.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly traceId: string | null = null,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;
let onSessionLost: (() => void) | null = null;

/** The CSRF token of the current session (sent as X-CSRF-Token on writes). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when the API says the session is gone (expired, or logged out elsewhere). */
export function whenSessionLost(fn: () => void): void {
  onSessionLost = fn;
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

interface CallOptions {
  method?: 'GET' | 'POST' | 'DELETE';
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
}

export async function api<T>(path: string, opts: CallOptions = {}): Promise<T> {
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(withQuery(path, opts.query), {
      method,
      headers,
      credentials: 'same-origin',
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'the gateway cannot be reached; check that it runs');
  }
  const traceId = res.headers.get('x-trace-id');
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: reported below */
  }
  if (!res.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
    const err = new ApiError(
      res.status,
      error?.code ?? `HTTP_${res.status}`,
      error?.message ?? `the gateway answered ${res.status}`,
      traceId,
      (error as Record<string, unknown> | undefined) ?? {},
    );
    if (res.status === 401 && path !== '/dash/api/session') onSessionLost?.();
    throw err;
  }
  if (body === null) throw new ApiError(res.status, 'BAD_ANSWER', 'the gateway answered no JSON');
  return body as T;
}
