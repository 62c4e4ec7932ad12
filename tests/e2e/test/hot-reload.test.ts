// Hot reload across two running ingress instances, which decide the calls (ADR 0011): the
// stack's own (polling its config dir) and a second one started here with CONFIG_POLL_MS=0,
// which can only learn of an edit from the gw.evt.policy.changed.v1 broadcast of the policy
// service. Consecutive calls alternate between the two, so a run of calls that all follow the
// new policy means both reloaded.
import { readFileSync } from 'node:fs';
import { freePort, waitFor } from '@sg/testing';
import {
  AGENT_KEY,
  envelope,
  post,
  startExtraService,
  startGateway,
  type Answer,
  type ExtraService,
  type Gateway,
} from './harness.js';

let gw: Gateway;
let second: ExtraService | undefined;
let secondIngress: Gateway;

const KEYS = `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n`;
const policy = (allow: string[], deny: string[] = []) =>
  `rules:\n  - model: gpt-4o\n    allow_tools: ${JSON.stringify(allow)}\n    deny_tools: ${JSON.stringify(deny)}\nrate_limits:\n  agent: { limit: 10000, window_s: 60 }\n`;

beforeAll(async () => {
  gw = await startGateway({
    configure: (c) => {
      c.write('model_keys/default.yaml', KEYS); // no key scope: the policy alone decides
      c.write('policies/default.yaml', policy(['calendar.*']));
    },
  });
  const port = await freePort();
  second = await startExtraService(gw, 'ingress', { CONFIG_POLL_MS: '0', PORT: String(port) });
  secondIngress = { ...gw, url: `http://127.0.0.1:${port}` };
});

afterAll(async () => {
  await second?.stop();
  await gw?.stop();
});

let n = 0;
function call(tool: string, args: Record<string, unknown> = {}): Promise<Answer> {
  return post(
    ++n % 2 ? gw : secondIngress,
    '/api/tools/call',
    envelope({ tool, arguments: args }),
    { 'X-API-Key': AGENT_KEY, 'X-Session-Id': `hot-${n}` },
  );
}
const write = () => call('db.write_sensitive', { table: 't', record: { n } });

/** `count` consecutive calls, one after another. */
async function calls(count: number, make: () => Promise<Answer>): Promise<Answer[]> {
  const out: Answer[] = [];
  for (let i = 0; i < count; i++) out.push(await make());
  return out;
}

/** The versions the second instance reloaded to, in order. */
const reloadsOfSecond = () =>
  second!
    .output()
    .split('\n')
    .filter((l) => l.includes('"msg":"config reloaded"'))
    .map((l) => (JSON.parse(l) as { version: string }).version);
const summary = (answers: Answer[]) =>
  answers.map((a) => `${a.status}:${a.body.error?.code ?? 'ok'}`);
const policyLog = () =>
  readFileSync(gw.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('policy '))
    .join('\n');

describe('a policy edit reaches every running instance that decides', () => {
  let initialVersion = '';
  let allowedVersion = '';

  it('(a) denies a tool the policy does not allow, on both instances', async () => {
    const answers = await calls(10, write);
    expect(summary(answers)).toEqual(Array(10).fill('403:POLICY.TOOL_NOT_ALLOWED'));
    initialVersion = answers[0]!.body.decision.policy_version;
    expect(new Set(answers.map((a) => a.body.decision.policy_version))).toEqual(
      new Set([initialVersion]),
    );
    expect(
      answers[0]!.body.decision.rule_trace.find((e: { outcome: string }) => e.outcome === 'fail'),
    ).toMatchObject({ check: 'allow_tools' });
  });

  it('(b, c) once policies/default.yaml allows it, 20 consecutive calls are all allowed', async () => {
    gw.config.write('policies/default.yaml', policy(['calendar.*', 'db.write_sensitive']));
    const first = await waitFor(
      async () => {
        const res = await write();
        return res.status === 200 ? res : undefined;
      },
      5000,
      'the edited policy to take effect',
    );
    allowedVersion = first.body.decision.policy_version;
    expect(allowedVersion).not.toBe(initialVersion);
    // The second instance never polls: it reloads because the first announces the new version.
    await waitFor(
      async () => (reloadsOfSecond().includes(allowedVersion) ? true : undefined),
      10_000,
      'the second instance to log its reload',
    );
    const answers = await calls(20, write);
    expect(summary(answers)).toEqual(Array(20).fill('200:ok'));
    expect(new Set(answers.map((a) => a.body.decision.policy_version))).toEqual(
      new Set([allowedVersion]),
    );
    const reload = second!
      .output()
      .split('\n')
      .find((l) => l.includes('"msg":"config reloaded"'))!;
    expect(JSON.parse(reload)).toMatchObject({
      version: allowedVersion,
      previous_version: initialVersion,
      why: 'announced by another instance',
    });
  });

  it('(d) refuses an invalid file and keeps deciding by the last good policy', async () => {
    const logMark = policyLog().length;
    gw.config.write(
      'policies/default.yaml',
      'rules:\n  - model: gpt-4o\n    allow_tools: ["calendar.*"\n    deny_tools: [db.write_sensitive]\n',
    );
    // The log names the file and the line (file:line:column: reason).
    const refused = await waitFor(
      async () =>
        policyLog()
          .slice(logMark)
          .split('\n')
          .find((l) => l.includes('config refused') && /policies\/default\.yaml:\d+:\d+: /.test(l)),
      5000,
      'the policy log to refuse policies/default.yaml, naming its line',
    );
    expect(JSON.parse(refused.slice(refused.indexOf('{')))).toMatchObject({
      version: allowedVersion,
      reason: expect.stringContaining(`${gw.config.dir}/policies/default.yaml:4:`),
    });
    const answers = await calls(20, write);
    expect(summary(answers)).toEqual(Array(20).fill('200:ok'));
    expect(new Set(answers.map((a) => a.body.decision.policy_version))).toEqual(
      new Set([allowedVersion]),
    );
    expect(reloadsOfSecond()).toEqual([allowedVersion]);
  });

  it('(e) takes a fixed file again, on both instances', async () => {
    // Valid again, and different: calendar.list_events is now denied, db.write_sensitive still allowed.
    gw.config.write(
      'policies/default.yaml',
      policy(['calendar.*', 'db.write_sensitive'], ['calendar.list_events']),
    );
    const first = await waitFor(
      async () => {
        const res = await call('calendar.list_events');
        return res.status === 403 ? res : undefined;
      },
      5000,
      'the fixed policy to take effect',
    );
    const fixedVersion = first.body.decision.policy_version;
    expect(fixedVersion).not.toBe(allowedVersion);
    await waitFor(
      async () => (reloadsOfSecond().includes(fixedVersion) ? true : undefined),
      10_000,
      'the second instance to log its second reload',
    );
    const denied = await calls(20, () => call('calendar.list_events'));
    expect(summary(denied)).toEqual(Array(20).fill('403:POLICY.TOOL_NOT_ALLOWED'));
    expect(
      denied[0]!.body.decision.rule_trace.find((e: { outcome: string }) => e.outcome === 'fail'),
    ).toMatchObject({
      check: 'allow_tools',
      rule: 'policies/default.yaml#rules[0].deny_tools[0]',
    });
    expect(new Set(denied.map((a) => a.body.decision.policy_version))).toEqual(
      new Set([fixedVersion]),
    );
    expect((await write()).status).toBe(200);
    expect(reloadsOfSecond()).toEqual([allowedVersion, fixedVersion]);

    // Each announced version is stored in PostgreSQL, from the policy service.
    const stored = await waitFor(
      async () => {
        const res = await gw.db.query<{
          source: string;
          trace_id: string;
          data: { version: string; previous_version: string };
        }>(
          "SELECT source, trace_id, data FROM audit_events WHERE subject = 'gw.evt.policy.changed.v1' ORDER BY stream_seq",
        );
        return res.rows.length >= 2 ? res.rows : undefined;
      },
      15_000,
      'two gw.evt.policy.changed.v1 rows',
    );
    expect(
      stored.map((r) => [r.source, r.data.version, r.data.previous_version, r.trace_id]),
    ).toEqual([
      ['policy', allowedVersion, initialVersion, `config-${allowedVersion}`],
      ['policy', fixedVersion, allowedVersion, `config-${fixedVersion}`],
    ]);
  });
});
