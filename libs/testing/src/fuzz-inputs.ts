import fc from 'fast-check';

/** One HTTP request as the fuzzer sends it, kept as data so a finding can be replayed as is. */
export interface FuzzInput {
  /** Which server: the ingress or the federation service (its own port). */
  target: string;
  method: string;
  /** The route's templated path (/api/approvals/{id}), for counts per route. */
  route: string;
  /** Path and query string, already encoded (or deliberately mis-encoded). */
  path: string;
  /** Header pairs; a name may repeat. */
  headers: [string, string][];
  /** The body's bytes, base64, so that invalid UTF-8 survives a JSON corpus file. */
  bodyBase64?: string;
  /** What the body is meant to probe (deep nesting, duplicate keys...), for the report. */
  kind: string;
}

/** The subset of a JSON Schema the valid-ish bodies are built from. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
}

/** Values chosen to break parsers and validators, as raw JSON text. */
const HOSTILE_VALUES = [
  '1e309',
  '-1e309',
  '18446744073709551616',
  '-9223372036854775809',
  '123456789012345678901234567890e999',
  '1e-400',
  '-0',
  '0.1e1',
  'null',
  'true',
  '""',
  '"\\u0000"',
  '"\\ud800"',
  '"\\udfff\\ud800"',
  '"\\u202e\\u200b\\ufeff"',
  '"__proto__"',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '[]',
  '{}',
  '[[[[[[[[[[]]]]]]]]]]',
  '"../../../../etc/passwd"',
  '"%00%ZZ%C0%AF"',
  '"{{secret:ADMIN_API_KEY}}"',
];

/** Percent-encodings that are invalid or overlong (%ZZ, %C0%AF, a lone %). */
const PERCENT_GARBAGE = ['%ZZ', '%C0%AF', '%', '%E0%80', '%FF%FE', '%00', '%2e%2e%2f', '%uD800'];

/** encodeURIComponent that cannot throw: lone surrogates become U+FFFD first. */
const encode = (s: string) => encodeURIComponent(Buffer.from(s, 'utf8').toString('utf8'));

const unicodeString = fc.string({ unit: 'binary', maxLength: 40 });
// Long text is rare: a URL past Node's 16 KiB header limit only ever meets the 431 of the parser.
const anyText = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 3, arbitrary: unicodeString },
  { weight: 2, arbitrary: fc.constantFrom('', ' ', 'a'.repeat(300), '..', '.', '/', '\\') },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 20_000 }).map((n) => 'x'.repeat(n)) },
);

/** A path segment or query value: encoded text, or raw percent garbage. */
const urlPiece = fc.oneof(
  { weight: 4, arbitrary: anyText.map(encode) },
  { weight: 1, arbitrary: fc.uuid() },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.oneof(fc.constantFrom(...PERCENT_GARBAGE), fc.stringMatching(/^[a-z0-9]{0,4}$/)), {
        minLength: 1,
        maxLength: 4,
      })
      .map((parts) => parts.join('')),
  },
);

function schemaValue(schema: JsonSchema | undefined, depth: number): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return fc.jsonValue({ maxDepth: 2 });
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum?.length) return fc.constantFrom(...schema.enum);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives?.length) return fc.oneof(...alternatives.map((s) => schemaValue(s, depth + 1)));
  if (schema.allOf?.length) return schemaValue(schema.allOf[0], depth + 1);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string':
      return fc.oneof(
        fc.string({ minLength: schema.minLength ?? 0, maxLength: schema.maxLength ?? 30 }),
        fc.constantFrom('gpt-4o', 'calendar.list_events', '1.0.0', 'req-1'),
      );
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -10, max: schema.maximum ?? 1000 });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(schemaValue(schema.items, depth + 1), { maxLength: 4 });
    case 'object':
    default: {
      const props = Object.entries(schema.properties ?? {});
      if (!props.length)
        return fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), {
          maxKeys: 4,
        });
      const required = new Set(schema.required ?? []);
      return fc.record(Object.fromEntries(props.map(([k, s]) => [k, schemaValue(s, depth + 1)])), {
        requiredKeys: props.map(([k]) => k).filter((k) => required.has(k)),
      });
    }
  }
}

const text = (s: string) => Buffer.from(s, 'utf8');

/** Body bytes and what they probe, from the route's JSON schema (valid-ish) or hostile. */
export function bodyArbitrary(schema: JsonSchema | undefined): fc.Arbitrary<[string, Buffer]> {
  const validish = schemaValue(schema, 0);
  return fc.oneof(
    {
      weight: 5,
      arbitrary: validish.map((v) => ['valid-ish', text(JSON.stringify(v))] as [string, Buffer]),
    },
    {
      weight: 3,
      // One field of a valid-ish body swapped for a hostile value.
      arbitrary: fc
        .tuple(validish, fc.constantFrom(...HOSTILE_VALUES), fc.string({ maxLength: 6 }))
        .map(([v, bad, extra]) => {
          const obj = v && typeof v === 'object' && !Array.isArray(v) ? (v as object) : {};
          const keys = Object.keys(obj);
          const key = keys.length ? keys[extra.length % keys.length]! : extra || 'x';
          const rest = JSON.stringify({ ...obj, [key]: undefined }).slice(1, -1);
          return [
            'hostile-value',
            text(`{${rest}${rest ? ',' : ''}${JSON.stringify(key)}:${bad}}`),
          ] as [string, Buffer];
        }),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.integer({ min: 30, max: 20_000 }), fc.boolean())
        .map(
          ([n, arrays]) =>
            [
              'deep-nesting',
              text(
                arrays ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n),
              ),
            ] as [string, Buffer],
        ),
    },
    {
      weight: 2,
      // Duplicate keys can only be written as raw JSON text.
      arbitrary: fc.tuple(validish, fc.constantFrom(...HOSTILE_VALUES)).map(([v, bad]) => {
        const obj =
          v && typeof v === 'object' && !Array.isArray(v)
            ? (v as Record<string, unknown>)
            : { a: 1 };
        const key = Object.keys(obj)[0] ?? 'a';
        const inner = JSON.stringify(obj).slice(1, -1);
        return [
          'duplicate-keys',
          text(
            `{${JSON.stringify(key)}:${bad}${inner ? ',' : ''}${inner},${JSON.stringify(key)}:${bad}}`,
          ),
        ] as [string, Buffer];
      }),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          validish,
          fc.constantFrom(
            [0xc0, 0xaf],
            [0xff],
            [0xed, 0xa0, 0x80],
            [0xe0, 0x80],
            [0xf8, 0x88, 0x80, 0x80, 0x80],
          ),
        )
        .map(([v, bytes]) => {
          const json = JSON.stringify(v ?? {});
          const cut = Math.max(1, json.indexOf('"') + 1);
          return [
            'invalid-utf8',
            Buffer.concat([text(json.slice(0, cut)), Buffer.from(bytes), text(json.slice(cut))]),
          ] as [string, Buffer];
        }),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(validish, fc.nat()).map(([v, at]) => {
        const json = JSON.stringify(v ?? {});
        return ['truncated-json', text(json.slice(0, at % Math.max(1, json.length)))] as [
          string,
          Buffer,
        ];
      }),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 100_000, max: 600_000 })
        .map(
          (n) => ['long-string', text(JSON.stringify({ s: 'a'.repeat(n) }))] as [string, Buffer],
        ),
    },
    {
      weight: 1,
      arbitrary: fc
        .jsonValue({ maxDepth: 4 })
        .map((v) => ['random-json', text(JSON.stringify(v))] as [string, Buffer]),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ maxLength: 200 })
        .map((b) => ['random-bytes', Buffer.from(b)] as [string, Buffer]),
    },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('', 'null', '[]', '"x"', '0', '{', '}', '\ufeff{}')
        .map((s) => ['tiny', text(s)] as [string, Buffer]),
    },
  );
}

/** Content types, most of them wrong for a JSON route. */
const contentType = fc.constantFrom(
  'application/json',
  'application/json',
  'application/json',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  '*/*',
  '',
  'application/json, text/html',
  undefined,
);

/** Extra headers: none, a flood of hundreds, one huge header, or odd repeats. */
const extraHeaders: fc.Arbitrary<[string, [string, string][]]> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(['', []] as [string, [string, string][]]) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 100, max: 900 })
      .map(
        (n) =>
          [
            'header-flood',
            Array.from({ length: n }, (_, i) => [`x-fuzz-${i}`, 'v'] as [string, string]),
          ] as [string, [string, string][]],
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 4000, max: 40_000 })
      .map(
        (n) => ['huge-header', [['x-fuzz-huge', 'h'.repeat(n)]]] as [string, [string, string][]],
      ),
  },
  {
    weight: 1,
    arbitrary: fc
      .array(
        fc.constantFrom(
          'x-request-id',
          'traceparent',
          'x-agent-id',
          'authorization',
          'x-api-key',
          'accept',
          'mcp-session-id',
          'last-event-id',
        ),
        { minLength: 1, maxLength: 4 },
      )
      .chain((names) =>
        fc.tuple(
          ...names.map((name) =>
            fc.tuple(
              fc.constant(name),
              fc.oneof(
                fc.string({ maxLength: 30 }),
                fc.constantFrom('00-zz-zz-01', 'Bearer ', 'Basic ####', ''),
              ),
            ),
          ),
        ),
      )
      .map(
        (pairs) =>
          [
            'odd-headers',
            pairs.map(([k, v]) => [k, v.replace(/[^\x20-\x7e]/g, '?')] as [string, string]),
          ] as [string, [string, string][]],
      ),
  },
);

/** A route of an OpenAPI document, what the generator needs of it. */
export interface FuzzRoute {
  target: string;
  method: string;
  /** The templated path, /api/approvals/{id}. */
  path: string;
  pathParams: string[];
  queryParams: string[];
  bodySchema?: JsonSchema;
  /** Whether its documented answers are JSON, so a 4xx must carry error.code. */
  json: boolean;
}

/** A request for one of `routes`, with credentials from `credentials` (or none). */
export function requestArbitrary(
  routes: FuzzRoute[],
  credentials: Record<string, string>[],
): fc.Arbitrary<FuzzInput> {
  return fc
    .tuple(
      fc.constantFrom(...routes),
      fc.constantFrom<Record<string, string>>({}, ...credentials),
      fc.array(urlPiece, { minLength: 4, maxLength: 4 }),
      fc.array(
        fc.tuple(
          fc.oneof(
            fc.string({ maxLength: 6 }).map(encode),
            fc.constantFrom(...PERCENT_GARBAGE, '', 'limit', 'cursor'),
          ),
          fc.oneof(urlPiece, fc.constant('')),
        ),
        { maxLength: 5 },
      ),
      fc.array(urlPiece, { maxLength: 3 }),
      fc.option(fc.constantFrom('', '/', '//', '/..', '%2F', '?', '?&&=&', '#x'), {
        nil: undefined,
      }),
      contentType,
      extraHeaders,
    )
    .chain(([route, creds, params, randomQuery, knownValues, tail, ctype, [headerKind, more]]) =>
      (route.bodySchema || route.method !== 'get'
        ? bodyArbitrary(route.bodySchema)
        : fc.constant(['none', Buffer.alloc(0)] as [string, Buffer])
      ).map(([bodyKind, body]): FuzzInput => {
        let i = 0;
        const path = route.path.replace(/\{[^}]+\}/g, () => params[i++ % params.length] ?? 'x');
        const query = [
          ...route.queryParams.map((q, j) => [q, knownValues[j] ?? ''] as [string, string]),
          ...randomQuery,
        ]
          .map(([k, v]) => `${k}=${v}`)
          .join('&');
        const headers: [string, string][] = Object.entries(creds);
        if (ctype !== undefined && body.length) headers.push(['content-type', ctype]);
        headers.push(...more);
        const kinds = [bodyKind, headerKind].filter((k) => k && k !== 'none');
        return {
          target: route.target,
          method: route.method.toUpperCase(),
          route: route.path,
          path: `${path}${query ? `?${query}` : ''}${tail ?? ''}`.replace(/[^\x21-\x7e]/g, (c) =>
            encode(c),
          ),
          headers,
          ...(body.length || route.method !== 'get' ? { bodyBase64: body.toString('base64') } : {}),
          kind: kinds.join('+') || 'plain',
        };
      }),
    );
}
