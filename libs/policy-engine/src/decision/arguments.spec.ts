import fc from 'fast-check';
import {
  complexityOf,
  findForbiddenField,
  findPhrase,
  normalizeFieldName,
  tenantsNamed,
} from './arguments.js';

const FORBIDDEN = new Set(['password', 'api_key', 'secret', 'token'].map(normalizeFieldName));

// Field names that can never normalise to a forbidden one: at most 5 letters, none of which spell them.
const safeKey = fc
  .stringMatching(/^[a-z][a-z0-9]{0,4}$/)
  .filter((k) => !FORBIDDEN.has(normalizeFieldName(k)));
const safeJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    tie('object'),
    tie('array'),
  ),
  object: fc.dictionary(safeKey, tie('value'), { maxKeys: 4 }),
  array: fc.array(tie('value'), { maxLength: 3 }),
})).object as fc.Arbitrary<Record<string, unknown>>;

/** A spelling of a forbidden name: any case, with _ or - sprinkled in. */
const forbiddenSpelling = fc
  .tuple(
    fc.constantFrom('password', 'apikey', 'secret', 'token'),
    fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
    fc.constantFrom('', '_', '-'),
  )
  .map(([name, upper, sep]) =>
    name
      .split('')
      .map((c, i) => (upper[i % 8] ? c.toUpperCase() : c))
      .join(sep),
  );

/** Puts `key: 'x'` somewhere inside `obj`, returning the new object and the JSON pointer. */
function plant(
  obj: Record<string, unknown>,
  key: string,
  route: number[],
): { value: Record<string, unknown>; path: string } {
  const root = structuredClone(obj);
  let node: Record<string, unknown> = root;
  let path = '';
  for (const step of route) {
    const keys = Object.keys(node).filter(
      (k) => node[k] && typeof node[k] === 'object' && !Array.isArray(node[k]),
    );
    if (keys.length === 0) break;
    const k = keys[step % keys.length]!;
    path += `/${k}`;
    node = node[k] as Record<string, unknown>;
  }
  node[key] = 'x';
  return { value: root, path: `${path}/${key}` };
}

describe('findForbiddenField', () => {
  it('finds nothing in arguments without forbidden names', () => {
    fc.assert(fc.property(safeJson, (args) => findForbiddenField(args, FORBIDDEN) === null));
  });

  it('finds a forbidden name however it is spelled, at any depth, and says where', () => {
    fc.assert(
      fc.property(
        safeJson,
        forbiddenSpelling,
        fc.array(fc.nat(), { maxLength: 5 }),
        (args, key, route) => {
          const { value, path } = plant(args, key, route);
          expect(findForbiddenField(value, FORBIDDEN)).toBe(path);
        },
      ),
    );
  });

  it('looks inside arrays', () => {
    expect(
      findForbiddenField({ items: [{ ok: 1 }, { nested: { Api_Key: 'x' } }] }, FORBIDDEN),
    ).toBe('/items/1/nested/Api_Key');
  });
});

describe('complexityOf', () => {
  const w = { per_100_chars: 2, per_field: 1, per_depth_level: 10 };

  it('scores empty arguments near 0 and grows with length, fields and depth', () => {
    expect(complexityOf({}, w).score).toBeLessThan(0.1);
    fc.assert(
      fc.property(safeJson, safeKey, (args, key) => {
        const deeper = { [key]: args };
        expect(complexityOf(deeper, w).score).toBeGreaterThan(complexityOf(args, w).score);
      }),
    );
  });

  it('counts nesting depth and fields', () => {
    expect(complexityOf({ a: { b: { c: 1 } }, d: 2 }, w)).toMatchObject({ fields: 4, depth: 2 });
  });
});

describe('findPhrase and tenantsNamed', () => {
  it('finds a phrase in any string at any depth, case-insensitively', () => {
    expect(
      findPhrase({ a: [{ b: 'Please IGNORE previous instructions now' }] }, [
        'ignore previous instructions',
      ]),
    ).toEqual({ phrase: 'ignore previous instructions', path: '/a/0/b' });
    expect(findPhrase({ a: 'harmless' }, ['ignore previous instructions'])).toBeNull();
  });

  it('reads a tenant as a string or a list', () => {
    expect(tenantsNamed({ t: 'acme' }, 't')).toEqual(['acme']);
    expect(tenantsNamed({ t: ['acme', 'globex'] }, 't')).toEqual(['acme', 'globex']);
    expect(tenantsNamed({}, 't')).toBeNull();
  });
});
