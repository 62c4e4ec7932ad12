import { createHash } from 'node:crypto';

/**
 * JSON with object keys sorted at every depth: equal values give equal text. Otherwise exactly
 * JSON.stringify (undefined and functions dropped from objects and null in arrays, toJSON used,
 * non-finite numbers as null), written directly rather than through a replacer that copies
 * every object: it runs for every audit row.
 */
export function canonicalJson(value: unknown): string {
  return write(value) as string;
}

function write(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      const withJson = v as { toJSON?: (key: string) => unknown };
      if (typeof withJson.toJSON === 'function') return write(withJson.toJSON(''));
      if (Array.isArray(v)) {
        let out = '[';
        for (let i = 0; i < v.length; i++) out += (i ? ',' : '') + (write(v[i]) ?? 'null');
        return `${out}]`;
      }
      const record = v as Record<string, unknown>;
      let out = '{';
      let first = true;
      for (const key of sortedKeys(record)) {
        const text = write(record[key]);
        if (text === undefined) continue;
        out += `${first ? '' : ','}${JSON.stringify(key)}:${text}`;
        first = false;
      }
      return `${out}}`;
    }
    case 'bigint':
      return JSON.stringify(v); // throws, as JSON.stringify does
    default:
      return undefined;
  }
}

const INDEX = /^(?:0|[1-9]\d{0,9})$/;

/**
 * Keys in code-unit order, except that integer keys (array indices) come first in numeric order:
 * a JavaScript object always lists them so, and the first definition of this function (sorted
 * entries put back into an object) kept that order. Digests made by it stay the same.
 */
function sortedKeys(record: Record<string, unknown>): string[] {
  const keys = Object.keys(record);
  // Object.keys already lists integer keys first, ascending; sort the rest.
  let i = 0;
  while (i < keys.length && INDEX.test(keys[i]!) && Number(keys[i]) < 4294967295) i++;
  return i === 0 ? keys.sort() : keys.slice(0, i).concat(keys.slice(i).sort());
}

export function digestOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}

/**
 * `target[key] = value` as an own, enumerable property, also for the key `__proto__`: JSON.parse
 * makes it an ordinary own key, but a plain assignment would set the object's prototype instead,
 * so the data would vanish from a copy (and its fields be inherited by it).
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__')
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  else target[key] = value;
}

/**
 * The pin of an MCP tool as a server advertises it: sha256 of the canonical JSON of its
 * description and input schema. The registry keeps it (`upstream.pin_sha256`); a server that
 * later advertises another description or schema for the tool (a "rug pull") no longer matches.
 */
export function mcpToolPin(tool: {
  description?: string | undefined;
  inputSchema: unknown;
}): string {
  return digestOf({ description: tool.description ?? '', input_schema: tool.inputSchema });
}

/**
 * A UUID (version-4 layout) derived from a string: equal inputs give equal ids, so an event
 * published twice under it is stored once (JetStream's dedupe, the audit's unique event id).
 */
export function uuidFrom(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
