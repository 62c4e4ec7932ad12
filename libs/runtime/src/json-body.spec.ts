import { GatewayError } from '@sg/contracts';
import fc from 'fast-check';
import { checkJsonLimits, type JsonLimits } from './json-body.js';

const limits: JsonLimits = { maxDepth: 4, maxKeys: 5, maxString: 10 };

function codeOf(text: string, l: JsonLimits = limits): string | null {
  try {
    checkJsonLimits(JSON.parse(text), l);
    return null;
  } catch (err) {
    return err instanceof GatewayError ? err.code : `not a GatewayError: ${String(err)}`;
  }
}

describe('parseLimitedJson', () => {
  it('accepts nesting up to the depth and refuses one level more', () => {
    expect(codeOf('[[[["x"]]]]')).toBeNull();
    expect(codeOf('{"a":{"b":{"c":{"d":1}}}}')).toBeNull();
    expect(codeOf('[[[[["x"]]]]]')).toBe('REQUEST.JSON_TOO_DEEP');
    expect(codeOf('{"a":{"b":{"c":{"d":{}}}}}')).toBe('REQUEST.JSON_TOO_DEEP');
  });

  it('refuses a body nested 20,000 levels deep with a 400, without overflowing the stack', () => {
    const deep = '{"a":'.repeat(20_000) + '1' + '}'.repeat(20_000);
    expect(codeOf(deep, { maxDepth: 64, maxKeys: 10_000, maxString: 1000 })).toBe(
      'REQUEST.JSON_TOO_DEEP',
    );
    const err = (() => {
      try {
        checkJsonLimits(JSON.parse('['.repeat(20_000) + ']'.repeat(20_000)), limits);
      } catch (e) {
        return e as GatewayError;
      }
    })();
    expect(err?.httpStatus).toBe(400);
    expect(err?.message).toMatch(/more than 4 levels deep/);
  });

  it('counts object keys over the whole body', () => {
    expect(codeOf('{"a":1,"b":{"c":2,"d":3},"e":4}')).toBeNull();
    expect(codeOf('{"a":1,"b":{"c":2,"d":3},"e":4,"f":5}')).toBe('REQUEST.JSON_TOO_MANY_KEYS');
    expect(codeOf('[{"a":1,"b":2},{"c":3,"d":4},{"e":5,"f":6}]')).toBe(
      'REQUEST.JSON_TOO_MANY_KEYS',
    );
  });

  it('refuses a string value or key longer than the limit', () => {
    expect(codeOf('{"k":"0123456789"}')).toBeNull();
    expect(codeOf('{"k":"0123456789x"}')).toBe('REQUEST.JSON_STRING_TOO_LONG');
    expect(codeOf('["0123456789x"]')).toBe('REQUEST.JSON_STRING_TOO_LONG');
    expect(codeOf('{"0123456789x":1}')).toBe('REQUEST.JSON_STRING_TOO_LONG');
  });

  it('accepts any JSON value within the limits, objects or not', () => {
    for (const text of ['"x"', '[1]', 'null', '3', '{}']) expect(codeOf(text)).toBeNull();
  });

  it('accepts any body within the limits, and refuses one just past the depth', () => {
    const wide: JsonLimits = { maxDepth: 1000, maxKeys: 1_000_000, maxString: 1_000_000 };
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(codeOf(JSON.stringify(v), wide)).toBeNull();
        expect(codeOf(JSON.stringify([[v]]), { ...wide, maxDepth: 1 })).toBe(
          'REQUEST.JSON_TOO_DEEP',
        );
      }),
    );
  });
});
