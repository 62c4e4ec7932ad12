import { closeObjectSchemas, compileRegistry } from './tool-registry.js';
import { toolFileSchema, type ToolFile } from '@sg/config';

const tool = (input_schema: Record<string, unknown>): ToolFile =>
  toolFileSchema.parse({
    name: 't.x',
    input_schema,
    upstream: { type: 'http', url: 'http://127.0.0.1:1/x' },
  });

describe('closeObjectSchemas', () => {
  it('closes nested objects that do not opt in to extra fields', () => {
    const closed = closeObjectSchemas({
      type: 'object',
      properties: {
        a: { type: 'object', properties: { b: { type: 'string' } } },
        open: { type: 'object', additionalProperties: true },
      },
    }) as {
      additionalProperties: unknown;
      properties: { a: { additionalProperties: unknown }; open: { additionalProperties: unknown } };
    };
    expect(closed.additionalProperties).toBe(false);
    expect(closed.properties.a.additionalProperties).toBe(false);
    expect(closed.properties.open.additionalProperties).toBe(true);
  });

  it('closes a property named __proto__ as any other, keeping it a property', () => {
    const closed = closeObjectSchemas(
      JSON.parse('{"type":"object","properties":{"__proto__":{"type":"object"}}}'),
    ) as { properties: Record<string, unknown> };
    expect(Object.getPrototypeOf(closed.properties)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(closed.properties, '__proto__')?.value).toEqual({
      type: 'object',
      additionalProperties: false,
    });
  });

  it('leaves enum and default values untouched', () => {
    const schema = { type: 'string', enum: [{ type: 'object' }], default: { type: 'object' } };
    expect(closeObjectSchemas(schema)).toEqual(schema);
  });
});

describe('compileRegistry', () => {
  it('rejects unknown and missing fields', () => {
    const reg = compileRegistry(
      new Map([
        ['t.x', tool({ type: 'object', properties: { a: { type: 'string' } }, required: ['a'] })],
      ]),
      '/cfg',
    );
    const validate = reg.get('t.x')!.validate;
    expect(validate({ a: 'x' })).toBe(true);
    expect(validate({ a: 'x', extra: 1 })).toBe(false);
    expect(validate({})).toBe(false);
  });

  it('refuses a schema ajv cannot compile, naming the file', () => {
    expect(() =>
      compileRegistry(
        new Map([['t.x', tool({ type: 'object', properties: { a: { type: 'nonsense' } } })]]),
        '/cfg',
      ),
    ).toThrow(/\/cfg\/tools\/t\.x\.json/);
  });
});
