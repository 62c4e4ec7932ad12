// The policy endpoints of the admin API (issue 13 §2), through the real processes: the live lint.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES_CONFIG } from '@sg/testing';
import { post, startGateway, type Gateway } from './harness.js';

const EDITOR_KEY = 'pat-policy-editor-key-000005';
const VIEWER_KEY = 'vic-viewer-key-00000000000006';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
let gw: Gateway;

beforeAll(async () => {
  gw = await startGateway({
    configure: (c) =>
      c.write(
        'admins.yaml',
        `admins:\n  pat:\n    key_sha256: ${sha256(EDITOR_KEY)}\n    roles: [policy_editor]\n  vic:\n    key_sha256: ${sha256(VIEWER_KEY)}\n    roles: [viewer]\n`,
      ),
  });
});

afterAll(async () => {
  await gw?.stop();
});

const examplePolicy = readFileSync(join(EXAMPLES_CONFIG, 'policies/default.yaml'), 'utf8');

function lint(yaml: string, kind = 'policies', key = EDITOR_KEY) {
  return post(gw, '/api/policy/lint', { project: 'default', kind, yaml }, { 'X-Admin-Key': key });
}

describe('POST /api/policy/lint', () => {
  it('passes the example policy', async () => {
    const res = await lint(examplePolicy);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, problems: [] });
  });

  it.each<[string, string, string, { line: number | null; reason: RegExp }]>([
    [
      'a YAML syntax error',
      'policies',
      'rules:\n  - model: gpt-4o\n    allow_tools: [calendar.*\n',
      { line: 4, reason: /flow sequence|expected|missing/i },
    ],
    [
      'a field the schema does not know',
      'policies',
      'rules:\n  - model: gpt-4o\n    alow_tools: ["calendar.*"]\n',
      { line: 2, reason: /alow_tools/ },
    ],
    [
      'a duplicate key',
      'policies',
      'forbidden_fields: [a]\nforbidden_fields: [b]\n',
      { line: 2, reason: /unique/i },
    ],
    [
      'a custom tag',
      'policies',
      'rules: !!js/function "function () { return 1 }"\n',
      { line: 1, reason: /tag/i },
    ],
    [
      'an alias bomb',
      'policies',
      [
        'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
        'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
        'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
        'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
        'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
        '',
      ].join('\n'),
      { line: null, reason: /alias/i },
    ],
    [
      'a time zone that does not exist',
      'contextual_policies',
      'time_windows:\n  - tools: ["db.*"]\n    from: "09:00"\n    to: "17:00"\n    timezone: Mars/Olympus_Mons\n',
      { line: null, reason: /time zone/i },
    ],
    [
      'a model key that is too short',
      'model_keys',
      'models:\n  gpt-4o:\n    key: short\n',
      { line: 3, reason: /12 characters/ },
    ],
  ])('reports %s with its line, and saves nothing', async (_what, kind, yaml, expected) => {
    const res = await lint(yaml, kind);
    expect(res.status).toBe(200);
    expect(res.body.ok).toBe(false);
    const [problem] = res.body.problems;
    expect(problem.file).toBe(`${kind}/default.yaml`);
    expect(problem.line).toBe(expected.line);
    expect(problem.reason).toMatch(expected.reason);
  });

  it('lists every schema problem, not only the first', async () => {
    const res = await lint('rules:\n  - model: 1\n    allow_tools: 2\nforbidden_fields: 3\n');
    expect(res.body.problems.length).toBeGreaterThanOrEqual(3);
  });

  it('refuses a body that is not {project, kind, yaml}, YAML too large, and a viewer', async () => {
    const bad = await post(
      gw,
      '/api/policy/lint',
      { project: 'default', kind: 'tools', yaml: '' },
      { 'X-Admin-Key': EDITOR_KEY },
    );
    expect([bad.status, bad.body.error.code]).toEqual([400, 'REQUEST.INVALID_BODY']);
    const big = await lint(`# ${'x'.repeat(200 * 1024)}\n`);
    expect(big.status).toBe(400);
    expect(big.body.error.code).toMatch(/^REQUEST\./);
    const viewer = await lint(examplePolicy, 'policies', VIEWER_KEY);
    expect([viewer.status, viewer.body.error.code]).toEqual([403, 'AUTH.ADMIN_ROLE_REQUIRED']);
  });
});
