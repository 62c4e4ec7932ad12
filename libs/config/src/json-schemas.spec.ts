import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { configJsonSchemas } from './json-schemas.js';

const ROOT = resolve(import.meta.dirname, '../../..');
const schemas = configJsonSchemas();

describe('published JSON Schemas of the config files', () => {
  it.each(Object.keys(schemas))(
    'schemas/%s matches the zod schema (run `npm run schemas` if not)',
    (name) => {
      expect(JSON.parse(readFileSync(join(ROOT, 'schemas', name), 'utf8'))).toEqual(
        JSON.parse(JSON.stringify(schemas[name])),
      );
    },
  );

  it('accepts every example file and rejects a typo', () => {
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats.default(ajv);
    const check = (schema: string, file: string) =>
      ajv.validate(
        schemas[schema]!,
        file.endsWith('.json')
          ? JSON.parse(readFileSync(file, 'utf8'))
          : parse(readFileSync(file, 'utf8')),
      );
    const examples = join(ROOT, 'examples/config');
    for (const [folder, schema] of [
      ['policies', 'policies.schema.json'],
      ['model_keys', 'model_keys.schema.json'],
      ['contextual_policies', 'contextual_policies.schema.json'],
      ['tools', 'tool.schema.json'],
    ] as const) {
      for (const f of readdirSync(join(examples, folder)))
        expect([f, check(schema, join(examples, folder, f)), ajv.errorsText()]).toEqual([
          f,
          true,
          'No errors',
        ]);
    }
    expect(
      ajv.validate(schemas['policies.schema.json']!, {
        rules: [{ model: 'a', allow_tool: ['x'] }],
      }),
    ).toBe(false);
  });
});
