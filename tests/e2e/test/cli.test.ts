// The `sg` CLI (issue 16 §2) against the real processes: each command run as a child process,
// as an operator or a CI job runs it, checked by its output and its exit status.
import { spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLES_CONFIG, freePort, waitFor } from '@sg/testing';
import {
  ADMIN_KEY,
  AGENT_KEY,
  adminsYaml,
  envelope,
  get,
  post,
  startGateway,
  type Answer,
  type Gateway,
  SIGNING_SEED,
} from './harness.js';

// The bin as npm links it (node_modules/.bin/sg): the launcher, which runs the build.
const CLI = join(import.meta.dirname, '../../../apps/cli/bin/sg.js');
const VIEWER_KEY = 'vic-viewer-key-cli-0000000001';
const RULES =
  'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*", "db.*"]\n    requires_approval: ["db.write_*"]\n';
const RESTRICTIVE = 'rules:\n  - model: gpt-4o\n    allow_tools: ["db.*"]\n';

let gw: Gateway;
let dir: string;
const admin = { 'X-Admin-Key': ADMIN_KEY };
const agent = { 'X-API-Key': AGENT_KEY };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sg-cli-'));
  gw = await startGateway({
    env: {
      SECRET_POLICY_SIGNING_KEY: SIGNING_SEED,
      POLICY_SIGNING_KEY_ID: 'e2e-cli',
      APPROVAL_TTL_S: '600',
    },
    configure: (c) => {
      c.write('policies/default.yaml', RULES);
      c.write('model_keys/default.yaml', `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n`);
      c.write('admins.yaml', adminsYaml({ vic: { key: VIEWER_KEY, roles: ['viewer'] } }));
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A JSON answer, read by the assertions. */
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `sg <args>` with the gateway's URL and the bootstrap admin key in its environment. */
function sg(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, SG_URL: gw.url, SG_ADMIN_KEY: ADMIN_KEY, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The parsed stdout of a `--json` run that exited 0. */
async function sgJson<T = Json>(args: string[]): Promise<T> {
  const run = await sg([...args, '--json']);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
  return JSON.parse(run.stdout) as T;
}

function file(name: string, content: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

let n = 0;
/** A call of the agent, in session `session`. */
async function call(tool: string, session = 'cli-e2e'): Promise<Answer> {
  return post(
    gw,
    '/api/tools/call',
    envelope({
      tool,
      arguments: tool.startsWith('db.') ? { table: 'payroll', record: { n: ++n } } : {},
    }),
    { ...agent, 'X-Session-Id': session },
  );
}

/** The project's versions of a kind, newest first, once there is one and `ready` holds. */
function versions(kind: string, ready: (v: Json[]) => boolean = () => true) {
  return waitFor(
    async () => {
      const res = await get(gw, `/api/policy/history?project=default&kind=${kind}`, admin);
      const list = res.body.versions as Json[] | undefined;
      return list?.length && ready(list) ? (list as [Json, ...Json[]]) : undefined;
    },
    15_000,
    `${kind} versions`,
  );
}

describe('the command line', () => {
  it('shows its commands, environment and exit codes with --help, and exits 0', async () => {
    const run = await sg(['--help']);
    expect(run.code).toBe(0);
    for (const text of ['policy lint', 'audit export', 'approvals approve', 'simulate'])
      expect(run.stdout).toContain(text);
    expect(run.stdout).toMatch(/SG_ADMIN_KEY/);
    expect(run.stdout).toMatch(/^ {2}5 {2}the gateway is unreachable/m);
    const sub = await sg(['policy', 'rollback', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('Usage: sg policy rollback <version_id> --project P --reason R');
  });

  it('exits 2 on a bad flag, a missing argument or an unknown command, and says why', async () => {
    const bad = await sg(['policy', 'history', '--project', 'default', '--bogus']);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toContain('unknown option --bogus for sg policy history');
    const missing = await sg(['policy', 'history']);
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining('--project')]);
    expect((await sg(['polcy', 'lint'])).code).toBe(2);
    const noFile = await sg([
      'policy',
      'lint',
      join(dir, 'none.yaml'),
      '--project',
      'default',
      '--kind',
      'policies',
    ]);
    expect([noFile.code, noFile.stderr]).toEqual([2, expect.stringContaining('no such file')]);
  });

  it('takes no secret as a flag, and never prints the key', async () => {
    const run = await sg(['trace', 'abcdefgh', '--admin-key=s3cr3t-on-the-command-line']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('never takes a secret on the command line');
    expect(run.stderr).not.toContain('s3cr3t');
  });

  it('exits 3 with the code for a wrong key, a missing permission or no credential', async () => {
    const wrong = await sg(['approvals', 'list'], { SG_ADMIN_KEY: 'not-the-admin-key-000000' });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain('AUTH.ADMIN_KEY_REQUIRED');
    expect(wrong.stderr).not.toContain('not-the-admin-key');
    const viewer = await sg(['audit', 'verify', '--project', 'default'], {
      SG_ADMIN_KEY: VIEWER_KEY,
    });
    expect(viewer.code).toBe(3);
    expect(viewer.stderr).toMatch(/AUTH\.ADMIN_ROLE_REQUIRED: .*audit\.read/);
    const none = await sg(['approvals', 'list'], { SG_ADMIN_KEY: undefined });
    expect([none.code, none.stderr]).toEqual([3, expect.stringContaining('SG_ADMIN_KEY')]);
  });

  it('exits 5 when the gateway cannot be reached', async () => {
    const port = await freePort();
    const run = await sg(['approvals', 'list', '--url', `http://127.0.0.1:${port}`]);
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(
      /cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    );
  });
});

describe('sg policy', () => {
  it('lints a file as the gateway loads it: ok is exit 0', async () => {
    const path = file(
      'config/policies/default.yaml',
      readFileSync(join(EXAMPLES_CONFIG, 'policies/default.yaml'), 'utf8'),
    );
    // The kind and the project come from the <kind>/<project>.yaml path.
    const run = await sg(['policy', 'lint', path]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toBe(`${path}: ok (policies/default.yaml)\n`);
    expect(await sgJson(['policy', 'lint', path])).toEqual({ ok: true, problems: [] });
  });

  it('prints each problem with its line and exits 1 when the file has problems', async () => {
    const path = file('bad.yaml', 'rules:\n  - model: gpt-4o\n    alow_tools: ["calendar.*"]\n');
    const run = await sg(['policy', 'lint', path, '--project', 'default', '--kind', 'policies']);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      new RegExp(`^${path.replace(/[.]/g, '\\.')}:2(:\\d+)?: .*alow_tools`, 'm'),
    );
    expect(run.stdout).toMatch(/problems? in .*bad\.yaml \(as policies\/default\.yaml\)$/m);
  });

  it('shows the history, newest first, with each signature', async () => {
    const [newest] = await versions('policies');
    const run = await sg(['policy', 'history', '--project', 'default', '--kind', 'policies']);
    expect(run.code).toBe(0);
    const [header, first] = run.stdout.split('\n');
    expect(header).toMatch(/^ID\s+KIND\s+CREATED\s+SOURCE\s+AUTHOR\s+SIGNATURE\s+REASON$/);
    expect(first).toMatch(
      new RegExp(`^${newest.id}\\s+policies\\s.*\\sfile\\s+file\\s+ok \\(e2e-cli\\)`),
    );
    const json = await sgJson(['policy', 'history', '--project', 'default', '--limit', '1']);
    expect(json.versions).toHaveLength(1);
    expect(json.versions[0]).toMatchObject({ project: 'default', verified: true });
  });

  it('rolls back to a version of the history, as a new active version', async () => {
    const [fileVersion] = await versions('policies');
    const saved = await post(
      gw,
      '/api/policy',
      { project: 'default', kind: 'policies', yaml: RESTRICTIVE, reason: 'e2e restrict' },
      admin,
    );
    expect(saved.status).toBe(201);
    expect((await call('calendar.list_events')).status).toBe(403);

    const run = await sg([
      'policy',
      'rollback',
      fileVersion.id,
      '--project',
      'default',
      '--reason',
      'undo the e2e restriction',
    ]);
    expect([run.code, run.stderr]).toEqual([0, '']);
    const [newest] = await versions('policies', (v) => v[0]?.source === 'rollback');
    expect(run.stdout).toBe(
      `rolled back default policies to ${fileVersion.id}: new version ${newest.id} is active\n`,
    );
    expect(newest).toMatchObject({ author: 'bootstrap', verified: true });
    expect((await call('calendar.list_events')).status).toBe(200);

    const unknown = await sg([
      'policy',
      'rollback',
      randomUUID(),
      '--project',
      'default',
      '--reason',
      'x',
    ]);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('POLICY.VERSION_NOT_FOUND');
    const notAnId = await sg([
      'policy',
      'rollback',
      'policies.default.yaml',
      '--project',
      'default',
      '--reason',
      'x',
    ]);
    expect([notAnId.code, notAnId.stderr]).toEqual([
      2,
      expect.stringContaining('POLICY.INVALID_VERSION_ID'),
    ]);
    expect(
      (await sg(['policy', 'rollback', '..', '--project', 'default', '--reason', 'x'])).code,
    ).toBe(2);
  });

  it('verifies every signature and parent link; a version changed in PostgreSQL fails it (exit 1)', async () => {
    await versions('model_keys');
    const ok = await sg(['policy', 'verify', '--project', 'default']);
    expect([ok.code, ok.stderr]).toEqual([0, '']);
    expect(ok.stdout).toMatch(/^policies\s+3\s+ok$/m);
    expect(ok.stdout).toMatch(/project default: all \d+ versions verify/);

    // The gateway's public key is the one of the signing secret it was given.
    const key = await get(gw, '/api/policy/signing-key', admin);
    const seed = Buffer.from(SIGNING_SEED, 'base64');
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
    const expected = createPublicKey(
      createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }),
    ).export({ type: 'spki', format: 'pem' });
    expect(key.body).toEqual({ key_id: 'e2e-cli', algorithm: 'Ed25519', public_key_pem: expected });
    const keyFile = join(dir, 'policy-signing.pub.pem');
    writeFileSync(keyFile, key.body.public_key_pem);
    const otherFile = join(dir, 'other.pub.pem');
    writeFileSync(
      otherFile,
      generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }),
    );
    // Checked by sg itself: every version verifies with the gateway's key, none with another.
    const mine = await sg(['policy', 'verify', '--project', 'default', '--public-key', keyFile]);
    expect([mine.code, mine.stderr]).toEqual([0, '']);
    expect(mine.stdout).toContain(`(signatures: checked here with ${keyFile})`);
    const other = await sg(['policy', 'verify', '--project', 'default', '--public-key', otherFile]);
    expect(other.code).toBe(1);
    expect(other.stdout).toMatch(/^policies\s+3\s+FAILED \(3 problems\)$/m);

    const [contextual] = await versions('contextual_policies');
    await gw.db.query("UPDATE policy_versions SET reason = 'forged' WHERE id = $1", [
      contextual.id,
    ]);
    const checkedHere = await sg([
      'policy',
      'verify',
      '--project',
      'default',
      '--public-key',
      keyFile,
    ]);
    expect(checkedHere.code).toBe(1);
    expect(checkedHere.stdout).toContain(
      `contextual_policies ${contextual.id}: its signature does not verify with the given public key (key e2e-cli)`,
    );
    const forged = await sg(['policy', 'verify', '--project', 'default']);
    expect(forged.code).toBe(1);
    expect(forged.stdout).toMatch(/^contextual_policies\s+1\s+FAILED \(1 problem\)$/m);
    expect(forged.stdout).toContain(
      `contextual_policies ${contextual.id}: its signature or content digest does not verify (key e2e-cli)`,
    );
    const json = await sg([
      'policy',
      'verify',
      '--project',
      'default',
      '--kind',
      'policies',
      '--json',
    ]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: true,
      kinds: [{ kind: 'policies', versions: 3 }],
    });
  });
});

describe('sg audit, sg trace', () => {
  let traceId: string;
  /** A time after every call of this block was stored: the export's upper bound. */
  let until: string;

  beforeAll(async () => {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await call('calendar.list_events', 'cli-audit'));
    traceId = answers[0]!.body.trace_id as string;
    await waitFor(
      async () => {
        const r = await get(gw, `/api/audit/records?session_id=cli-audit&project=default`, admin);
        return r.body.records?.length === 3 ? true : undefined;
      },
      15_000,
      'the three calls stored',
    );
    until = new Date(Date.now() + 1000).toISOString();
    await new Promise((r) => setTimeout(r, 1100));
  });

  it('verifies the audit chain to its head (exit 0)', async () => {
    const run = await sg(['audit', 'verify', '--project', 'default']);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toMatch(/^project default: the audit chain verifies$/m);
    expect(run.stdout).toMatch(/rows checked: [1-9]\d*/);
    const json = await sgJson(['audit', 'verify', '--project', 'default']);
    expect(json).toMatchObject({ project: 'default', ok: true, complete: true, requests: 1 });
  });

  it('exports every record as one JSON line each, to stdout or a file', async () => {
    let expected = 0;
    let cursor: string | null = null;
    do {
      const page: Answer = await get(
        gw,
        `/api/audit/records?project=default&to=${encodeURIComponent(until)}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        admin,
      );
      expected += page.body.records.length;
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(expected).toBeGreaterThanOrEqual(3);

    const run = await sg(['audit', 'export', '--project', 'default', '--to', until]);
    expect([run.code, run.stderr]).toEqual([0, '']);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(expected);
    const records = lines.map((l) => JSON.parse(l) as { audit_id: string; project: string });
    expect(new Set(records.map((r) => r.audit_id)).size).toBe(expected);
    expect(records.every((r) => r.project === 'default')).toBe(true);

    const out = join(dir, 'export.jsonl');
    const toFile = await sg(['audit', 'export', '--project', 'default', '--to', until, '-o', out]);
    expect([toFile.code, toFile.stdout]).toEqual([0, `wrote ${expected} records to ${out}\n`]);
    expect(readFileSync(out, 'utf8')).toBe(run.stdout);

    const session = await sg(['audit', 'export', '--session', 'cli-audit', '--status', 'success']);
    expect(session.stdout.trimEnd().split('\n')).toHaveLength(3);
  });

  it("shows a call's trace, and 4 for a trace that does not exist", async () => {
    const run = await sg(['trace', traceId]);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toMatch(new RegExp(`^trace ${traceId}: \\d+ events?\\n`));
    expect(run.stdout).toMatch(/toolcall\.completed\s+tool=calendar\.list_events .*outcome=/);
    const json = await sgJson(['trace', traceId]);
    expect(json.events.length).toBeGreaterThanOrEqual(1);
    expect(json.events.every((e: { trace_id: string }) => e.trace_id === traceId)).toBe(true);

    const missing = await sg(['trace', 'no-such-trace-0001']);
    expect([missing.code, missing.stderr]).toEqual([
      4,
      expect.stringContaining('AUDIT.TRACE_NOT_FOUND'),
    ]);
    const malformed = await sg(['trace', 'bad']);
    expect(malformed.code).toBe(2);
  });
});

describe('sg approvals', () => {
  const pending: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const res = await call('db.write_sensitive');
      expect(res.status).toBe(202);
      pending.push(res.body.approval_id as string);
    }
  });

  it('lists the pending approvals', async () => {
    const run = await sg(['approvals', 'list', '--project', 'default']);
    expect([run.code, run.stderr]).toEqual([0, '']);
    for (const id of pending)
      expect(run.stdout).toMatch(
        new RegExp(`^${id}\\s+default\\s+gpt-4o\\s+db\\.write_sensitive`, 'm'),
      );
    expect(run.stdout).toMatch(/^2 pending approvals in default$/m);
    const json = await sgJson(['approvals', 'list']);
    expect(json.approvals.map((a: { approval_id: string }) => a.approval_id)).toEqual(pending);
  });

  it('approves one (the call runs) and rejects the other', async () => {
    const [first, second] = pending as [string, string];
    const approved = await sg(['approvals', 'approve', first, '--comment', 'ticket 42']);
    expect([approved.code, approved.stderr]).toEqual([0, '']);
    expect(approved.stdout).toMatch(
      new RegExp(`^approval ${first}: executed; the call ran \\(HTTP 200\\)`),
    );
    expect((await get(gw, `/api/approvals/${first}`, admin)).body).toMatchObject({
      status: 'executed',
      approver: 'bootstrap',
      comment: 'ticket 42',
      outcome: { http_status: 200 },
    });

    const rejected = await sg(['approvals', 'reject', second]);
    expect([rejected.code, rejected.stdout]).toEqual([0, `approval ${second}: rejected\n`]);
    const listed = await sgJson(['approvals', 'list', '--status', 'rejected']);
    expect(listed.approvals.map((a: { approval_id: string }) => a.approval_id)).toEqual([second]);

    const again = await sg(['approvals', 'approve', first]);
    expect([again.code, again.stderr]).toEqual([
      1,
      expect.stringContaining('APPROVAL.NOT_PENDING'),
    ]);
    const unknown = await sg(['approvals', 'approve', randomUUID()]);
    expect([unknown.code, unknown.stderr]).toEqual([
      4,
      expect.stringContaining('APPROVAL.NOT_FOUND'),
    ]);
  });
});

describe('sg simulate', () => {
  it('decides a trace file again, against the live policy or a candidate file', async () => {
    const trace = file(
      'trace.json',
      JSON.stringify({
        model_id: 'gpt-4o',
        session_id: 'cli-sim-trace',
        tool_calls: [
          { tool: 'calendar.list_events', input: {} },
          { tool: 'db.write_sensitive', input: { table: 't', record: { n: 1 } } },
        ],
      }),
    );
    const run = await sg(['simulate', '--project', 'default', '--trace-file', trace]);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toMatch(/^project default: 2 calls decided again against the live policy/);
    expect(run.stdout).toContain('compared: none (a trace has no recorded decisions)');
    expect(run.stdout).toMatch(/calendar\.list_events\s+-\s+allow\s+-$/m);
    expect(run.stdout).toMatch(/db\.write_sensitive\s+-\s+allow \(approval\)\s+-$/m);

    const candidate = file('restrictive.yaml', RESTRICTIVE);
    const against = await sg([
      'simulate',
      '--project',
      'default',
      '--trace-file',
      trace,
      '--policy-file',
      candidate,
    ]);
    expect(against.code).toBe(0);
    expect(against.stdout).toContain('against the candidate policy');
    expect(against.stdout).toMatch(/calendar\.list_events\s+-\s+deny POLICY\.TOOL_NOT_ALLOWED/);
  });

  it('replays a recorded session against a candidate: --fail-on-change exits 1 when a decision changes', async () => {
    for (let i = 0; i < 2; i++)
      expect((await call('calendar.list_events', 'cli-sim')).status).toBe(200);
    const candidate = file('candidate.yaml', RESTRICTIVE);
    const args = [
      'simulate',
      '--project',
      'default',
      '--session',
      'cli-sim',
      '--policy-file',
      candidate,
    ];
    // The session is replayable once the audit stored its calls.
    const json = await waitFor(
      async () => {
        const r = await sg([...args, '--json']);
        return r.code === 0 && JSON.parse(r.stdout).summary.calls === 2
          ? JSON.parse(r.stdout)
          : undefined;
      },
      15_000,
      'the session to be replayable',
    );
    expect(json).toMatchObject({
      against: { kind: 'candidate' },
      summary: { compared: 2, changed: 2, allow_to_deny: 2 },
    });

    const changed = await sg([...args, '--fail-on-change']);
    expect(changed.code).toBe(1);
    expect(changed.stdout).toContain('changed: 2 (allow→deny 2');
    expect(changed.stdout).toMatch(
      /calendar\.list_events\s+allow\s+deny POLICY\.TOOL_NOT_ALLOWED\s+allow→deny/,
    );
    expect((await sg(args)).code).toBe(0);
    // Against the live policy nothing changes: --fail-on-change passes.
    const same = await sg([
      'simulate',
      '--project',
      'default',
      '--session',
      'cli-sim',
      '--fail-on-change',
    ]);
    expect([same.code, same.stdout]).toEqual([0, expect.stringContaining('no decision changed')]);
  });
});
