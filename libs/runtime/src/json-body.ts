import { GatewayError } from '@sg/contracts';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { RawServerDefault } from 'fastify';

/** What a JSON request body may hold; beyond it the body is refused before any handler runs. */
export interface JsonLimits {
  /** Arrays and objects inside each other. */
  maxDepth: number;
  /** Object keys in the whole body. */
  maxKeys: number;
  /** Characters in one string (a key or a value). */
  maxString: number;
}

/**
 * Throws a 400 GatewayError if a parsed JSON body is beyond the limits. It walks the value
 * without recursion: a body nested 20,000 levels deep parses, but every recursive step after
 * it (validation, masking, canonical JSON) would overflow the stack.
 */
export function checkJsonLimits(root: unknown, limits: JsonLimits): void {
  let keys = 0;
  const stack: Array<{ value: unknown; depth: number }> = [{ value: root, depth: 0 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const { value, depth } = item;
    if (typeof value === 'string') {
      if (value.length > limits.maxString) throw stringTooLong(value.length, limits);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    if (depth >= limits.maxDepth) {
      throw new GatewayError(
        'REQUEST.JSON_TOO_DEEP',
        `the body nests arrays and objects more than ${limits.maxDepth} levels deep; send flatter JSON`,
        { max_depth: limits.maxDepth },
      );
    }
    if (Array.isArray(value)) {
      for (const v of value) stack.push({ value: v, depth: depth + 1 });
      continue;
    }
    for (const key in value) {
      if (++keys > limits.maxKeys) {
        throw new GatewayError(
          'REQUEST.JSON_TOO_MANY_KEYS',
          `the body holds more than ${limits.maxKeys} object keys; send fewer fields`,
          { max_keys: limits.maxKeys },
        );
      }
      if (key.length > limits.maxString) throw stringTooLong(key.length, limits);
      stack.push({ value: (value as Record<string, unknown>)[key], depth: depth + 1 });
    }
  }
}

function stringTooLong(length: number, limits: JsonLimits): GatewayError {
  return new GatewayError(
    'REQUEST.JSON_STRING_TOO_LONG',
    `the body holds a string of ${length} characters, more than the ${limits.maxString} allowed; send shorter strings`,
    { max_string: limits.maxString },
  );
}

const RAW_BODY = Symbol('rawBody');

/** The body's bytes as received (a JSON request parsed by useLimitedJson); empty when it had none. */
export function rawBodyOf(req: object): Buffer {
  return (req as { [RAW_BODY]?: Buffer })[RAW_BODY] ?? Buffer.alloc(0);
}

/**
 * Makes JSON the one body type: Fastify's own parser (which refuses `__proto__` and
 * `constructor.prototype` keys), then the limits. Any JSON value parses, so a body that is
 * JSON but not an object reaches the handler, which says what it expected (400); any other
 * media type is refused by Fastify (415).
 */
export function useLimitedJson(app: NestFastifyApplication, limits: JsonLimits): void {
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeContentTypeParser('text/plain');
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  app.useBodyParser<RawServerDefault>('application/json', {}, (req, body, done) => {
    // The bytes as they came, for what is computed over them (a signature's Content-Digest).
    (req as { [RAW_BODY]?: Buffer })[RAW_BODY] = body as unknown as Buffer;
    // Fastify's parser takes the buffer as it takes a string (it checks length, then parses).
    parseJson(req, body as unknown as string, (err: Error | null, value?: unknown) => {
      if (err) return done(err, undefined);
      try {
        checkJsonLimits(value, limits);
      } catch (limitErr) {
        return done(limitErr as Error, undefined);
      }
      done(null, value);
    });
  });
}
