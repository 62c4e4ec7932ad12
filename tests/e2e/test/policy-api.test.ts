// The policy endpoints of the admin API (issue 13 §2), through the real processes: the live
// lint, and the versions recorded from the config directory (signed), their history and diffs.
import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { EXAMPLES_CONFIG, waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  envelope,
  get,
  post,
  startExtraService,
  startGateway,
  type ExtraService,
  type Gateway,
  adminsYaml,
  SIGNING_SEED,
} from './harness.js';

const EDITOR_KEY = 'pat-policy-editor-key-000005';
const VIEWER_KEY = 'vic-viewer-key-00000000000006';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
let gw: Gateway;

beforeAll(async () => {
  gw = await startGateway({
    env: { SECRET_POLICY_SIGNING_KEY: SIGNING_SEED, POLICY_SIGNING_KEY_ID: 'e2e-2026' },
    configure: (c) => {
      c.write(
        'admins.yaml',
        adminsYaml({
          pat: { key: EDITOR_KEY, roles: ['policy_editor'] },
          vic: { key: VIEWER_KEY, roles: ['viewer'] },
        }),
      );
      // A second project, whose versions a rollback in default must not reach.
      c.write(
        'policies/other.yaml',
        'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\n',
      );
    },
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

describe('policy versions', () => {
  const editor = { 'X-Admin-Key': EDITOR_KEY };
  type Version = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

  async function history(query: string, key = EDITOR_KEY) {
    return get(gw, `/api/policy/history?${query}`, { 'X-Admin-Key': key });
  }

  /** The newest version of a kind, once `ready` says it is the one expected. */
  function newest(kind: string, ready: (v: Version) => boolean = () => true): Promise<Version> {
    return waitFor(
      async () => {
        const res = await history(`project=default&kind=${kind}&limit=1`);
        const v = res.body.versions?.[0] as Version | undefined;
        return v && ready(v) ? v : undefined;
      },
      15_000,
      `a ${kind} version`,
    );
  }

  it("records each project file at start, signed, with author and source 'file'", async () => {
    for (const kind of ['policies', 'contextual_policies', 'model_keys']) {
      const v = await newest(kind);
      expect(v).toMatchObject({
        project: 'default',
        kind,
        author: 'file',
        source: 'file',
        key_id: 'e2e-2026',
        verified: true,
      });
      expect(v.sha256).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('keeps no agent key in a model_keys version: each key is stored as its sha256', async () => {
    const v = await newest('model_keys');
    const detail = await get(gw, `/api/policy/versions/${v.id}`, editor);
    expect(detail.status).toBe(200);
    expect(detail.body.content).not.toContain(AGENT_KEY);
    expect(detail.body.content).toContain(`key_sha256: ${sha256(AGENT_KEY)}`);
    const dump = await gw.db.query("SELECT content FROM policy_versions WHERE kind = 'model_keys'");
    expect(JSON.stringify(dump.rows)).not.toContain(AGENT_KEY);
  });

  it('records an edit of the file as a new version whose parent is the last, with a unified diff', async () => {
    const before = await newest('policies');
    gw.config.write(
      'policies/default.yaml',
      `${examplePolicy}\n# an e2e edit\nforbidden_fields: [password, api_key, secret, token, private_key, ssn]\n`.replace(
        /^forbidden_fields: \[password, api_key, secret, token, private_key\]\n/m,
        '',
      ),
    );
    const after = await newest('policies', (v) => v.id !== before.id);
    expect(after).toMatchObject({ parent_id: before.id, source: 'file', verified: true });
    const detail = await get(gw, `/api/policy/versions/${after.id}`, editor);
    expect(detail.body.diff).toContain(`policies/default.yaml@${before.id}`);
    expect(detail.body.diff).toMatch(
      /^\+forbidden_fields: \[password, api_key, secret, token, private_key, ssn\]$/m,
    );
    expect(detail.body.diff).toMatch(
      /^-forbidden_fields: \[password, api_key, secret, token, private_key\]$/m,
    );
    // Newest first, with cursor pages.
    const page1 = await history('project=default&kind=policies&limit=1');
    expect(page1.body.versions[0].id).toBe(after.id);
    const page2 = await history(
      `project=default&kind=policies&limit=1&cursor=${page1.body.next_cursor}`,
    );
    expect(page2.body.versions[0].id).toBe(before.id);
  });

  /** npm run policy:verify, with the gateway's database and signing secret. */
  function policyVerify() {
    const out = spawnSync(
      process.execPath,
      [
        join(import.meta.dirname, '../../../services/policy/dist/cli/verify.js'),
        '--project',
        'default',
      ],
      {
        env: { ...process.env, ...gw.iso.env, SECRET_POLICY_SIGNING_KEY: SIGNING_SEED },
        encoding: 'utf8',
      },
    );
    const reports = out.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Version);
    return { status: out.status, reports, stderr: out.stderr };
  }

  it('verifies the whole history with npm run policy:verify', async () => {
    await newest('model_keys');
    const { status, reports, stderr } = policyVerify();
    expect([status, stderr]).toEqual([0, '']);
    expect(reports.map((r) => [r.kind, r.ok])).toEqual(
      expect.arrayContaining([
        ['policies', true],
        ['contextual_policies', true],
        ['model_keys', true],
      ]),
    );
  });

  it('shows a version whose row was changed in PostgreSQL as not verified, and policy:verify names it', async () => {
    const v = await newest('contextual_policies');
    await gw.db.query("UPDATE policy_versions SET reason = 'forged' WHERE id = $1", [v.id]);
    const res = await get(gw, `/api/policy/versions/${v.id}`, editor);
    expect(res.body).toMatchObject({ reason: 'forged', verified: false });
    const { status, reports } = policyVerify();
    expect(status).toBe(1);
    const contextual = reports.find((r) => r.kind === 'contextual_policies')!;
    expect(contextual).toMatchObject({ ok: false, problems: [{ id: v.id }] });
    expect(contextual.problems[0].problem).toMatch(/signature does not verify/);
    expect(reports.find((r) => r.kind === 'policies')!.ok).toBe(true);
  });

  it('takes only a version id from the history: a path or a name is a 400, an unknown id a 404', async () => {
    for (const id of ['..%2F..%2Fetc%2Fpasswd', 'policies.default.yaml', '1']) {
      const res = await get(gw, `/api/policy/versions/${id}`, editor);
      expect([id, res.status, res.body.error.code]).toEqual([id, 400, 'POLICY.INVALID_VERSION_ID']);
    }
    const unknown = await get(gw, `/api/policy/versions/${randomUUID()}`, editor);
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'POLICY.VERSION_NOT_FOUND']);
    const badQuery = await history('project=default&kind=tools');
    expect([badQuery.status, badQuery.body.error.code]).toEqual([400, 'AUDIT.INVALID_QUERY']);
    const noProject = await history('kind=policies');
    expect(noProject.status).toBe(400);
  });

  it('lets a viewer read the history (policy.read)', async () => {
    const res = await history('project=default', VIEWER_KEY);
    expect(res.status).toBe(200);
    expect(res.body.versions.length).toBeGreaterThanOrEqual(3);
  });
});

describe('saving and rolling back versions', () => {
  const editor = { 'X-Admin-Key': EDITOR_KEY };
  const RESTRICTIVE = 'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.create_*"]\n';
  const extras: ExtraService[] = [];

  afterAll(async () => {
    await Promise.all(extras.map((e) => e.stop()));
  });

  const listEvents = () => post(gw, '/api/tools/call', envelope(), { 'X-API-Key': AGENT_KEY });
  const save = (yaml: string, project = 'default', reason = 'e2e') =>
    post(gw, '/api/policy', { project, kind: 'policies', yaml, reason }, editor);
  const rollback = (id: string, headers: Record<string, string> = {}) =>
    post(gw, `/api/policy/rollback/${id}`, { reason: 'e2e rollback' }, { ...editor, ...headers });

  it('saves a version that is active at once, signed and named after its author', async () => {
    expect((await listEvents()).status).toBe(200);
    const res = await save(RESTRICTIVE);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      created: true,
      version: { source: 'api', author: 'pat', reason: 'e2e', verified: true, kind: 'policies' },
    });
    const denied = await listEvents();
    expect([denied.status, denied.body.error.code]).toEqual([403, 'POLICY.TOOL_NOT_ALLOWED']);
    // The same content again changes nothing.
    const again = await save(RESTRICTIVE);
    expect([again.status, again.body.created]).toEqual([200, false]);
  });

  it('refuses YAML with problems with 422 and its problems, and keeps the active version', async () => {
    const res = await save('rules:\n  - model: gpt-4o\n    allow_tools: "calendar.*"\n');
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('POLICY.LINT_FAILED');
    expect(res.body.error.details.problems[0]).toMatchObject({
      file: 'policies/default.yaml',
      line: 3,
    });
    expect((await listEvents()).status).toBe(403);
  });

  it('rolls back to a version of the history, as a new version, seen by three policy instances', async () => {
    for (let i = 0; i < 2; i++)
      extras.push(
        await startExtraService(gw, 'policy', {
          SECRET_POLICY_SIGNING_KEY: SIGNING_SEED,
          POLICY_SIGNING_KEY_ID: 'e2e-2026',
        }),
      );
    const file = (
      await get(gw, '/api/policy/history?project=default&kind=policies&limit=50', editor)
    ).body.versions.find((v: Record<string, unknown>) => v.source === 'file');
    const res = await rollback(file.id);
    expect(res.status).toBe(201);
    expect(res.body.version).toMatchObject({ source: 'rollback', author: 'pat', verified: true });
    expect(res.body.version.reason).toContain(file.id);
    const allowed = await listEvents();
    expect(allowed.status).toBe(200);
    const active = allowed.body.decision.policy_version as string;
    // Every policy instance runs the same version: the two started now have reloaded to it.
    for (const e of extras)
      await waitFor(
        async () => (e.output().includes(`"version":"${active}"`) ? true : undefined),
        10_000,
        `policy instance to activate ${active}`,
      );
  });

  it("takes only an id of the project's own history: a path is a 400, another project's version a 404", async () => {
    for (const id of ['..%2F..%2Fetc%2Fpasswd', 'policies%2Fdefault.yaml']) {
      const res = await rollback(id);
      expect([id, res.status, res.body.error.code]).toEqual([id, 400, 'POLICY.INVALID_VERSION_ID']);
    }
    const other = (await get(gw, '/api/policy/history?project=other&kind=policies', editor)).body
      .versions[0];
    const res = await rollback(other.id);
    expect([res.status, res.body.error.code]).toEqual([404, 'POLICY.VERSION_NOT_FOUND']);
    // In its own project, it works.
    expect((await rollback(other.id, { 'X-Project-ID': 'other' })).status).toBe(200);
  });

  it('does not activate a version whose row was changed in PostgreSQL: the last good one stays', async () => {
    const restrictive = await save(RESTRICTIVE, 'default', 'restrict again');
    expect(restrictive.status).toBe(201);
    const open = await save('rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"]\n');
    expect(open.status).toBe(201);
    expect((await listEvents()).status).toBe(200);
    await gw.db.query("UPDATE policy_versions SET author = 'mallory' WHERE id = $1", [
      open.body.version.id,
    ]);
    // Any new version makes every instance fetch the active versions again.
    expect((await save('rules: []\n', 'other', 'trigger')).status).toBe(201);
    await waitFor(
      async () => ((await listEvents()).status === 403 ? true : undefined),
      10_000,
      'the last good (restrictive) version to be active again',
    );
    const log = readFileSync(gw.logFile, 'utf8');
    expect(log).toContain(open.body.version.id);
    expect(log).toMatch(/does not verify/);
    // And a critical alert for the SIEM, once.
    const alert = await waitFor(
      async () =>
        (await get(gw, '/api/alerts?type=policy_tampered', { 'X-Admin-Key': ADMIN_KEY })).body
          .alerts?.[0] as Record<string, unknown> | undefined,
      10_000,
      'the policy_tampered alert',
    );
    expect(alert).toMatchObject({
      type: 'policy_tampered',
      severity: 'critical',
      project: 'default',
      key: open.body.version.id,
    });
  });
});
