import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeGateway, json, sg } from '../test/fake-gateway.js';

let fake: FakeGateway;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sg-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(async () => {
  fake = await new FakeGateway().start();
});
afterEach(() => fake.stop());

const at = () => ({ url: fake.url });
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

describe('help and usage', () => {
  it('prints the help on stdout with --help (exit 0), and on stderr without a command (exit 2)', async () => {
    const asked = await sg(['--help']);
    expect(asked.code).toBe(0);
    expect(asked.stdout).toContain('Exit codes:');
    const bare = await sg([]);
    expect([bare.code, bare.stdout]).toEqual([2, '']);
    expect(bare.stderr).toContain('Usage: sg <command>');
    const group = await sg(['audit']);
    expect(group.code).toBe(2);
    expect(group.stderr).toMatch(/audit verify .*\n {2}audit export/);
    expect((await sg(['--version'])).stdout).toMatch(/^sg \d+\.\d+\.\d+\n$/);
  });

  it('shows every command with its usage, options and the exit codes', async () => {
    const help = await sg(['simulate', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: sg simulate --project P \[options\]/);
    expect(help.stdout).toContain('--fail-on-change');
    expect(help.stdout).toContain('  3  authentication or permission refused');
  });

  it('exits 2 on an environment it cannot use, naming the variable', async () => {
    const run = await sg(['approvals', 'list'], {
      url: 'not a url',
    });
    expect([run.code, run.stderr]).toEqual([
      2,
      'sg: --url "not a url" is not a URL; give e.g. http://127.0.0.1:8080\n',
    ]);
    expect(fake.seen).toEqual([]);
  });
});

describe('sg policy lint', () => {
  it('prints each problem as file:line:column and exits 1', async () => {
    const file = join(dir, 'p.yaml');
    writeFileSync(file, 'rules: x\n');
    fake.answer('POST /api/policy/lint', 200, {
      ok: false,
      problems: [
        { file: 'policies/team.yaml', line: 1, column: 8, reason: 'rules must be a list' },
        {
          file: 'policies/team.yaml',
          line: null,
          column: null,
          reason: 'the policy does not compile',
        },
      ],
    });
    const run = await sg(['policy', 'lint', file, '--project', 'team', '--kind', 'policies'], at());
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(
      `${file}:1:8: rules must be a list\n${file}: the policy does not compile\n2 problems in ${file} (as policies/team.yaml)\n`,
    );
    expect(fake.seen[0]!.body).toEqual({ project: 'team', kind: 'policies', yaml: 'rules: x\n' });
  });

  it('needs the kind and project when the path does not name them', async () => {
    const file = join(dir, 'p.yaml');
    writeFileSync(file, 'rules: []\n');
    const run = await sg(['policy', 'lint', file], at());
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('give --project and --kind');
  });
});

describe('sg policy history and verify', () => {
  const version = (n: number, parent: number | null, over: Record<string, unknown> = {}) => ({
    id: uuid(n),
    project: 'default',
    kind: 'policies',
    sha256: 'a'.repeat(64),
    parent_id: parent === null ? null : uuid(parent),
    author: 'file',
    source: 'file',
    reason: `edit ${n}`,
    created_at: '2026-05-01T00:00:00.000Z',
    key_id: 'policy-1',
    verified: true,
    signature: null,
    ...over,
  });

  it('follows the cursor until --limit versions were read', async () => {
    fake.on('GET /api/policy/history', (req, res) => {
      const q = new URL(req.url, 'http://x').searchParams;
      const start = Number(q.get('cursor') ?? 5);
      const size = Number(q.get('limit'));
      const versions = [];
      for (let n = start; n > Math.max(0, start - size); n--)
        versions.push(version(n, n - 1 || null));
      json(res, 200, { versions, next_cursor: start - size > 0 ? String(start - size) : null });
    });
    const run = await sg(
      ['policy', 'history', '--project', 'default', '--limit', '3', '--json'],
      at(),
    );
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as { versions: { id: string }[]; more: boolean };
    expect(out.versions.map((v) => v.id)).toEqual([uuid(5), uuid(4), uuid(3)]);
    expect(out.more).toBe(true);
    expect(fake.query(0)).toEqual({ project: 'default', limit: '3' });
  });

  it('checks every kind, and exits 1 naming the version that does not verify', async () => {
    fake.on('GET /api/policy/history', (req, res) => {
      const kind = new URL(req.url, 'http://x').searchParams.get('kind');
      const versions =
        kind === 'policies'
          ? [version(2, 1, { verified: false }), version(1, null)]
          : [version(kind === 'model_keys' ? 7 : 8, null, { kind })];
      json(res, 200, { versions, next_cursor: null });
    });
    const run = await sg(['policy', 'verify', '--project', 'default'], at());
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(
      [
        'KIND                 VERSIONS  RESULT',
        'policies             2         FAILED (1 problem)',
        'contextual_policies  1         ok',
        'model_keys           1         ok',
        `policies ${uuid(2)}: its signature or content digest does not verify (key policy-1)`,
        "project default: the history does not verify (signatures: the gateway's word; check them here with --public-key)",
        '',
      ].join('\n'),
    );
    expect(fake.seen.map((s) => new URL(s.url, 'http://x').searchParams.get('kind'))).toEqual([
      'policies',
      'contextual_policies',
      'model_keys',
    ]);
  });

  it('with --public-key checks every digest and signature itself, whatever the gateway says', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const keyFile = join(dir, 'policy-signing.pub.pem');
    writeFileSync(keyFile, publicKey.export({ type: 'spki', format: 'pem' }));
    const content = (n: number) => `rules: [] # ${n}\n`;
    // Signed as the policy service signs: the fields' JSON, keys sorted (built another way here).
    const signed = (n: number, parent: number | null, over: Record<string, unknown> = {}) => {
      const v = {
        ...version(n, parent, over),
        sha256: createHash('sha256').update(content(n)).digest('hex'),
      };
      const fields = Object.fromEntries(
        [
          'id',
          'project',
          'kind',
          'sha256',
          'parent_id',
          'author',
          'source',
          'reason',
          'created_at',
          'key_id',
        ]
          .sort()
          .map((k) => [k, (v as Record<string, unknown>)[k]]),
      );
      const signature = sign(null, Buffer.from(JSON.stringify(fields)), privateKey).toString(
        'base64',
      );
      return { ...v, signature, verified: false };
    };
    const history = [signed(3, 2), signed(2, 1, { reason: 'tampered later' }), signed(1, null)];
    // Version 2's reason changed after it was signed; version 1's content changed.
    history[1]!.reason = 'harmless';
    fake.on('GET /api/policy/history', (req, res) => {
      const kind = new URL(req.url, 'http://x').searchParams.get('kind');
      json(res, 200, { versions: kind === 'policies' ? history : [], next_cursor: null });
    });
    for (const n of [1, 2, 3])
      fake.answer(`GET /api/policy/versions/${uuid(n)}`, 200, {
        ...history[3 - n],
        content: n === 1 ? 'rules: [everything]\n' : content(n),
        diff: '',
      });
    const run = await sg(
      ['policy', 'verify', '--project', 'default', '--kind', 'policies', '--public-key', keyFile],
      at(),
    );
    expect(run.code).toBe(1);
    expect(run.stdout.split('\n').slice(2)).toEqual([
      `policies ${uuid(2)}: its signature does not verify with the given public key (key policy-1)`,
      `policies ${uuid(1)}: its content does not match its signed digest (sha256)`,
      `project default: the history does not verify (signatures: checked here with ${keyFile})`,
      '',
    ]);
    // Version 3 verifies here although the gateway said it does not (verified: false).
    expect(run.stdout).not.toContain(uuid(3));

    const notAKey = join(dir, 'not-a-key.pem');
    writeFileSync(notAKey, 'hello\n');
    const bad = await sg(
      ['policy', 'verify', '--project', 'default', '--public-key', notAKey],
      at(),
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a PEM public key');
  });

  it('sends a rollback with the project header and the reason', async () => {
    fake.answer(`POST /api/policy/rollback/${uuid(1)}`, 201, {
      created: true,
      version: version(3, 2, { source: 'rollback' }),
    });
    const run = await sg(
      ['policy', 'rollback', uuid(1), '--project', 'team', '--reason', 'undo'],
      at(),
    );
    expect([run.code, run.stdout]).toEqual([
      0,
      `rolled back team policies to ${uuid(1)}: new version ${uuid(3)} is active\n`,
    ]);
    expect(fake.seen[0]).toMatchObject({
      headers: { 'x-project-id': 'team' },
      body: { reason: 'undo' },
    });
  });
});

describe('sg audit', () => {
  it('follows the verification cursor to the chain head and adds up the rows', async () => {
    const piece = (over: Record<string, unknown>) => ({
      project: 'default',
      ok: false,
      complete: false,
      next_cursor: 'c1',
      rows_checked: 1000,
      from_seq: 1,
      last_seq: 1000,
      head_seq: 1500,
      checkpoints_checked: 1,
      checkpoints_other_key: 0,
      first_mismatch: null,
      verified_at: '2026-05-01T00:00:00.000Z',
      ...over,
    });
    fake.on('GET /api/audit/verify', (req, res) =>
      json(
        res,
        200,
        new URL(req.url, 'http://x').searchParams.get('cursor') === 'c1'
          ? piece({
              ok: true,
              complete: true,
              next_cursor: null,
              rows_checked: 500,
              from_seq: 1001,
              last_seq: 1500,
            })
          : piece({}),
      ),
    );
    const run = await sg(['audit', 'verify', '--project', 'default', '--json'], at());
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      ok: true,
      rows_checked: 1500,
      from_seq: 1,
      last_seq: 1500,
      requests: 2,
    });
    expect(fake.query(1)).toEqual({ project: 'default', cursor: 'c1' });
  });

  it('exits 1 when the chain does not verify', async () => {
    fake.answer('GET /api/audit/verify', 200, {
      project: 'default',
      ok: false,
      complete: true,
      next_cursor: null,
      rows_checked: 20,
      from_seq: 1,
      last_seq: 17,
      head_seq: 20,
      checkpoints_checked: 0,
      checkpoints_other_key: 0,
      first_mismatch: { chain_seq: 17, event_id: 'e-17', reason: 'the hash does not match' },
      verified_at: '2026-05-01T00:00:00.000Z',
    });
    const run = await sg(['audit', 'verify', '--project', 'default'], at());
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /DOES NOT VERIFY at chain_seq 17 \(event e-17\): the hash does not match/,
    );
  });

  it('streams the export to a file, and exits 5 with a way to resume when the gateway stops it', async () => {
    const rec = (i: number) =>
      JSON.stringify({ audit_id: `a${i}`, timestamp: `2026-05-01T00:00:0${i}.000Z` });
    fake.on('GET /api/audit/export', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${rec(1)}\n${rec(2)}`);
      setTimeout(
        () =>
          res.end(
            `\n${JSON.stringify({ error: { code: 'AUDIT.STORE_UNAVAILABLE', message: 'the export stopped before its end: the audit store is unavailable' }, trace_id: 't' })}\n`,
          ),
        20,
      );
    });
    const file = join(dir, 'out.jsonl');
    const run = await sg(
      [
        'audit',
        'export',
        '--project',
        'default',
        '--from',
        '2026-05-01',
        '--status',
        'denied',
        '-o',
        file,
      ],
      at(),
    );
    expect(run.code).toBe(5);
    expect(run.stderr).toBe(
      'sg: AUDIT.STORE_UNAVAILABLE: the export stopped before its end: the audit store is unavailable; 2 records arrived; resume with --from 2026-05-01T00:00:02.000Z (records of that exact time come again: skip the audit_ids you have)\n',
    );
    expect(readFileSync(file, 'utf8')).toBe(`${rec(1)}\n${rec(2)}\n`);
    expect(fake.query(0)).toEqual({ project: 'default', from: '2026-05-01', status: 'denied' });
  });

  it('refuses a status the audit does not know before asking', async () => {
    const run = await sg(['audit', 'export', '--status', 'ok'], at());
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      '--status must be one of success, pending_approval, denied, rejected, error',
    );
    expect(fake.seen).toEqual([]);
  });
});

describe('sg approvals', () => {
  it('takes a denial by the re-check as the outcome it is (exit 1), not as a refused credential', async () => {
    fake.answer('POST /approve', 403, {
      approval_id: uuid(1),
      status: 'denied',
      error: {
        code: 'POLICY.TOOL_NOT_ALLOWED',
        message: 'the policy now denies this call: no rule',
      },
      trace_id: 't',
    });
    const run = await sg(['approvals', 'approve', uuid(1), '--comment', 'ok by me'], at());
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(
      `approval ${uuid(1)}: denied; the policy, checked again, denies the call: POLICY.TOOL_NOT_ALLOWED the policy now denies this call: no rule\n`,
    );
    expect(fake.seen[0]!.body).toEqual({
      approval_id: uuid(1),
      approved: true,
      comment: 'ok by me',
    });
  });

  it('takes a refused approver as exit 3', async () => {
    fake.answer('POST /approve', 403, {
      error: {
        code: 'APPROVAL.FOUR_EYES',
        message: 'you requested this call; another approver must resolve it',
      },
    });
    const run = await sg(['approvals', 'reject', uuid(1)], at());
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^sg: APPROVAL\.FOUR_EYES: you requested this call/);
    expect(fake.seen[0]!.body).toEqual({ approval_id: uuid(1), approved: false });
  });

  it('says when the queue is empty', async () => {
    fake.answer('GET /api/approvals', 200, { approvals: [], next_cursor: null });
    const run = await sg(['approvals', 'list', '--project', 'ops', '--status', 'expired'], at());
    expect([run.code, run.stdout]).toEqual([0, 'no expired approvals in ops\n']);
    expect(fake.query(0)).toEqual({ status: 'expired', project: 'ops', limit: '50' });
  });
});
