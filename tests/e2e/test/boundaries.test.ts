import { join } from 'node:path';
import { ESLint } from 'eslint';
import { ROOT } from '../../../scripts/stack.mjs';

// The workspace's lint really forbids a service importing a service (STYLE.md, ARCHITECTURE.md).
const eslint = new ESLint({ cwd: ROOT });

async function boundaryErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, file) });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === '@nx/enforce-module-boundaries')
    .map((m) => m.message);
}

it.each([
  [
    'a service importing another service by name',
    'services/policy/src/probe.ts',
    "import { IngressModule } from '@sg/ingress';\nexport const x = IngressModule;\n",
  ],
  [
    'a service importing another service by path',
    'services/policy/src/probe.ts',
    "import { IngressModule } from '../../ingress/src/app.module.js';\nexport const x = IngressModule;\n",
  ],
  [
    'a lib importing a service',
    'libs/messaging/src/probe.ts',
    "import { IngressModule } from '@sg/ingress';\nexport const x = IngressModule;\n",
  ],
  [
    'contracts importing another lib',
    'libs/contracts/src/probe.ts',
    "import { NatsBus } from '@sg/messaging';\nexport const x = NatsBus;\n",
  ],
])(
  'refuses %s',
  async (_label, file, code) => {
    expect(await boundaryErrors(file, code)).not.toEqual([]);
  },
  60_000,
);

it('lets a service import a lib', async () => {
  expect(
    await boundaryErrors(
      'services/policy/src/probe.ts',
      "import { NatsBus } from '@sg/messaging';\nexport const x = NatsBus;\n",
    ),
  ).toEqual([]);
}, 60_000);
