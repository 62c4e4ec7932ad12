import { GatewayError } from '@sg/contracts';
import type { HttpUpstream } from '@sg/config';
import { Agent, errors, request } from 'undici';
import { readCapped, type SecretProvider } from '@sg/runtime';
import { SecretScope } from '../secrets/index.js';
import {
  assertUpstreamAllowed,
  findSsrfRefusal,
  guardedLookup,
  ssrfRefused,
} from './ssrf-guard.js';

export type { HttpUpstream };

export interface UpstreamAnswer {
  status: number;
  body: unknown;
}

/** One HTTP call, ready to send: secrets resolved, arguments placed. Holds secret values: never log it. */
export interface PreparedHttpCall {
  url: URL;
  method: HttpUpstream['method'];
  headers: Record<string, string>;
  body: string | undefined;
}

const agentOptions = { keepAliveTimeout: 10_000, connections: 128 };
/** Sockets whose every DNS answer is checked by the SSRF guard before connecting. */
const guardedAgent = new Agent({ ...agentOptions, connect: { lookup: guardedLookup } });
/** For upstreams with allow_link_local: true. */
const openAgent = new Agent(agentOptions);

/**
 * Builds the request of a call. The URL, method and headers come from the registry only, never
 * from the agent. `{{secret:NAME}}` is resolved in the registry's url (percent-encoded, so a
 * value cannot change the URL's structure), headers and `arguments`; the agent's own arguments
 * are never searched for references. On a name both give, the registry's argument wins, as a
 * query parameter the registry URL fixes does.
 */
export async function prepareHttpCall(
  upstream: HttpUpstream,
  args: Record<string, unknown>,
  secrets: SecretScope,
): Promise<PreparedHttpCall> {
  const url = new URL(await secrets.resolve(upstream.url, encodeURIComponent));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(upstream.headers))
    headers[name] = await secrets.resolve(value);
  const fixedArgs = (await secrets.resolveDeep(upstream.arguments ?? {})) as Record<
    string,
    unknown
  >;
  const merged = { ...args, ...fixedArgs };
  let body: string | undefined;
  if (upstream.arguments_in === 'query') {
    const fixed = new URL(url).searchParams;
    for (const [k, v] of Object.entries(merged)) {
      // A parameter the registry fixes (say ?tenant=acme) is never the agent's to change.
      if (!fixed.has(k)) url.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
    }
  } else if (upstream.method !== 'GET') {
    body = JSON.stringify(merged);
  }
  return {
    url,
    method: upstream.method,
    headers: {
      ...headers,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      accept: 'application/json',
    },
    body,
  };
}

/**
 * Sends a prepared call once. Refuses link-local and metadata hosts (SSRF guard) unless the
 * registry allows them. Error messages name the tool, never the URL or a header: those may
 * hold secrets.
 */
export async function sendHttpCall(
  tool: string,
  upstream: HttpUpstream,
  call: PreparedHttpCall,
  maxBytes: number,
  signal: AbortSignal = AbortSignal.timeout(upstream.timeout_ms),
): Promise<UpstreamAnswer> {
  assertUpstreamAllowed(tool, call.url, upstream.allow_link_local);
  let res;
  try {
    res = await request(call.url, {
      method: call.method,
      headers: call.headers,
      body: call.body,
      dispatcher: upstream.allow_link_local ? openAgent : guardedAgent,
      signal,
      maxRedirections: 0,
    } as Parameters<typeof request>[1]);
  } catch (err) {
    throw upstreamFailure(tool, upstream, call, err);
  }
  let text: string;
  try {
    const declared = Number(res.headers['content-length'] ?? 0);
    if (declared > maxBytes) {
      // dump() discards the body without the unhandled 'error' that destroy() would emit.
      await res.body.dump({ limit: 0 }).catch(() => undefined);
      throw new GatewayError(
        'EXECUTOR.UPSTREAM_ERROR',
        `${tool}'s upstream answered ${declared} bytes, more than the ${maxBytes} allowed`,
      );
    }
    const bytes = await readCapped(
      res.body,
      maxBytes,
      () =>
        new GatewayError(
          'EXECUTOR.UPSTREAM_ERROR',
          `${tool}'s upstream answered more than the ${maxBytes} bytes allowed`,
        ),
    );
    text = bytes.toString('utf8');
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw upstreamFailure(tool, upstream, call, err);
  }
  if (Buffer.byteLength(text) > maxBytes) {
    throw new GatewayError(
      'EXECUTOR.UPSTREAM_ERROR',
      `${tool}'s upstream answered more than the ${maxBytes} bytes allowed`,
    );
  }
  const contentType = String(res.headers['content-type'] ?? '');
  let parsed: unknown = text;
  if (contentType.includes('json')) {
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new GatewayError('EXECUTOR.UPSTREAM_ERROR', `${tool}'s upstream sent invalid JSON`);
    }
  }
  if (res.statusCode >= 400) {
    throw new GatewayError(
      'EXECUTOR.UPSTREAM_ERROR',
      `${tool}'s upstream answered HTTP ${res.statusCode}`,
      { upstream_status: res.statusCode },
    );
  }
  return { status: res.statusCode, body: parsed };
}

/** No secrets: a provider that has none, so any `{{secret:...}}` is EXECUTOR.SECRET_MISSING. */
const noSecrets: SecretProvider = { get: async () => undefined };

/**
 * Prepares and sends one call, without retries or breaker (ExecutionService adds those), and
 * scrubs the secrets it used from the answer.
 */
export async function callHttpUpstream(
  tool: string,
  upstream: HttpUpstream,
  args: Record<string, unknown>,
  maxBytes: number,
  options: { secrets?: SecretProvider; signal?: AbortSignal } = {},
): Promise<UpstreamAnswer> {
  const scope = new SecretScope(options.secrets ?? noSecrets);
  const call = await prepareHttpCall(upstream, args, scope);
  const answer = await sendHttpCall(tool, upstream, call, maxBytes, options.signal);
  return { status: answer.status, body: scope.scrub(answer.body) };
}

function upstreamFailure(
  tool: string,
  upstream: HttpUpstream,
  call: PreparedHttpCall,
  err: unknown,
): GatewayError {
  if (err instanceof GatewayError) return err;
  const refusal = findSsrfRefusal(err);
  if (refusal) return ssrfRefused(tool, refusal.host ?? call.url.hostname);
  const e = err as Error & { code?: string; cause?: { code?: string } };
  if (
    e.name === 'TimeoutError' ||
    e.name === 'AbortError' ||
    err instanceof errors.HeadersTimeoutError ||
    err instanceof errors.BodyTimeoutError
  ) {
    return new GatewayError(
      'EXECUTOR.UPSTREAM_TIMEOUT',
      `${tool}'s upstream did not answer within ${upstream.timeout_ms} ms`,
    );
  }
  // Only a short code such as ECONNREFUSED: never undici's message, which may quote the URL.
  const code = e.code ?? e.cause?.code;
  return new GatewayError(
    'EXECUTOR.UPSTREAM_UNREACHABLE',
    `${tool}'s upstream is unreachable (${code && /^[A-Z0-9_]{2,40}$/.test(code) ? code : 'connection failed'})`,
  );
}
