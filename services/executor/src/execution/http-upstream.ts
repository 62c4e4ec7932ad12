import { GatewayError } from '@sg/contracts';
import type { HttpUpstream } from '@sg/config';
import { Agent, errors, request } from 'undici';

export type { HttpUpstream };

export interface UpstreamAnswer {
  status: number;
  body: unknown;
}

const agent = new Agent({ keepAliveTimeout: 10_000, connections: 128 });

/** Calls an HTTP tool upstream. The URL comes from the registry only, never from the agent. */
export async function callHttpUpstream(
  tool: string,
  upstream: HttpUpstream,
  args: Record<string, unknown>,
  maxBytes: number,
): Promise<UpstreamAnswer> {
  const url = new URL(upstream.url);
  let body: string | undefined;
  if (upstream.arguments_in === 'query') {
    const fixed = new URL(upstream.url).searchParams;
    for (const [k, v] of Object.entries(args)) {
      // A parameter the registry fixes (say ?tenant=acme) is never the agent's to change.
      if (!fixed.has(k)) url.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
    }
  } else if (upstream.method !== 'GET') {
    body = JSON.stringify(args);
  }
  let res;
  try {
    res = await request(url, {
      method: upstream.method,
      headers: { ...upstream.headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), accept: 'application/json' },
      body,
      dispatcher: agent,
      signal: AbortSignal.timeout(upstream.timeout_ms),
      maxRedirections: 0,
    } as Parameters<typeof request>[1]);
  } catch (err) {
    throw upstreamFailure(tool, upstream, err);
  }
  let text: string;
  try {
    const declared = Number(res.headers['content-length'] ?? 0);
    if (declared > maxBytes) {
      // dump() discards the body without the unhandled 'error' that destroy() would emit.
      await res.body.dump({ limit: 0 }).catch(() => undefined);
      throw new GatewayError('EXECUTOR.UPSTREAM_ERROR', `${tool}'s upstream answered ${declared} bytes, more than the ${maxBytes} allowed`);
    }
    text = await res.body.text();
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw upstreamFailure(tool, upstream, err);
  }
  if (Buffer.byteLength(text) > maxBytes) {
    throw new GatewayError('EXECUTOR.UPSTREAM_ERROR', `${tool}'s upstream answered more than the ${maxBytes} bytes allowed`);
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
    throw new GatewayError('EXECUTOR.UPSTREAM_ERROR', `${tool}'s upstream answered HTTP ${res.statusCode}`, { upstream_status: res.statusCode });
  }
  return { status: res.statusCode, body: parsed };
}

function upstreamFailure(tool: string, upstream: HttpUpstream, err: unknown): GatewayError {
  const e = err as Error & { code?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
    return new GatewayError('EXECUTOR.UPSTREAM_TIMEOUT', `${tool}'s upstream did not answer within ${upstream.timeout_ms} ms`);
  }
  return new GatewayError('EXECUTOR.UPSTREAM_UNREACHABLE', `${tool}'s upstream is unreachable (${e.code ?? e.cause?.code ?? 'connection failed'})`);
}
