// Writes the JSON Schemas of the config files to schemas/ (for editors). A test in libs/config
// fails when the committed files no longer match the zod schemas: run `npm run schemas` then.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configJsonSchemas } from '@sg/config';
import { ROOT } from './stack.mjs';

const dir = join(ROOT, 'schemas');
mkdirSync(dir, { recursive: true });
for (const [name, schema] of Object.entries(configJsonSchemas())) {
  writeFileSync(join(dir, name), `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote schemas/${name}`);
}
