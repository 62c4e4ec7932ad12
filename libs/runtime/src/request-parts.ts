import { GatewayError } from '@sg/contracts';
import type { z } from 'zod';

/** Request headers as Node and Fastify give them. */
export type HeaderBag = Record<string, string | string[] | undefined>;

/** A header's value; the first one when it was sent more than once. */
export function headerOf(headers: HeaderBag, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * A JSON request body checked against its schema: a body that is not a JSON object, or breaks
 * the schema, is 400 REQUEST.INVALID_BODY, the message starting with `what` (how to fix it) and
 * naming each problem, `details.issues` listing them.
 */
export function parseBody<T extends z.ZodType>(
  schema: T,
  body: unknown,
  what = 'invalid request body',
): z.infer<T> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : `a ${typeof body}`;
    throw new GatewayError(
      'REQUEST.INVALID_BODY',
      `the body is JSON ${got}; send a JSON object with Content-Type: application/json`,
    );
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => ({
    path: i.path.join('.') || '(body)',
    message: i.message,
  }));
  throw new GatewayError(
    'REQUEST.INVALID_BODY',
    `${what}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    { issues },
  );
}
