// Plugins (issue 13 §5, seed 002) through the real processes: local ES modules in worker
// threads, a remote plugin as a NATS service, denials, annotations, crashes, timeouts,
// on_error: allow, and a plugin loaded again when its file changes.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { TEST_SERVERS, waitFor } from '@sg/testing';
import { AGENT_KEY, auditRows, envelope, post, startGateway, type Gateway } from './harness.js';

let gw: Gateway;
let nc: NatsConnection;

// Each plugin reacts to the end user the agent names (X-User-Id), so the calls stay valid.
const PLUGINS: Record<string, string> = {
  'a-annotate.mjs': `export function onToolCall(ctx, tool) { return { annotate: { seen: tool, user: ctx.user_id } }; }\n`,
  'deny-list.mjs': `export function onToolCall(ctx) { return ctx.user_id === 'blocked' ? { deny: 'user blocked by the deny list' } : null; }\n`,
  'crash.mjs': `export function onToolCall(ctx) { if (ctx.user_id === 'crash') throw new Error('boom'); return null; }\n`,
  'hang.mjs': `export function onToolCall(ctx) { if (ctx.user_id === 'hang') for (;;) {} return null; }\n`,
  'lenient.mjs': `export function onToolCall(ctx) { if (ctx.user_id === 'lenient') throw new Error('lenient boom'); return null; }\n`,
};

beforeAll(async () => {
  gw = await startGateway({
    configure: (c) => {
      for (const [file, text] of Object.entries(PLUGINS)) c.write(`plugins/${file}`, text);
      c.write(
        'plugins.yaml',
        [
          'plugins:',
          '  hang: { timeout_ms: 300 }',
          '  lenient: { on_error: allow }',
          '  remote-guard: { remote: true, timeout_ms: 500 }',
          '',
        ].join('\n'),
      );
    },
  });
  // The remote plugin: a NATS service in this process, as one in any language would be.
  nc = await connect({ servers: TEST_SERVERS.natsUrl });
  nc.subscribe(`${gw.iso.subjectPrefix}.gw.plugin.remote-guard.v1`, {
    callback: (_err, msg) => {
      const call = msg.json<{ ctx: { user_id: string | null } }>();
      msg.respond(
        JSON.stringify(
          call.ctx.user_id === 'remote-no' ? { deny: 'the remote guard says no' } : null,
        ),
      );
    },
  });
  await nc.flush();
});

afterAll(async () => {
  await nc?.close();
  await gw?.stop();
});

const call = (user: string, traceId?: string) =>
  post(gw, '/api/tools/call', envelope(), {
    'X-API-Key': AGENT_KEY,
    'X-User-Id': user,
    ...(traceId ? { 'X-Trace-Id': traceId } : {}),
  });

it('runs every plugin after policy allowed the call, and audits their annotations and trace', async () => {
  const traceId = `plugins-ok-${Date.now()}`;
  const res = await call('alice', traceId);
  expect(res.status).toBe(200);
  const checks = (res.body.decision.rule_trace as Array<{ check: string; outcome: string }>)
    .filter((t) => t.check.startsWith('plugin:'))
    .map((t) => [t.check, t.outcome]);
  expect(checks).toEqual([
    ['plugin:a-annotate', 'pass'],
    ['plugin:crash', 'pass'],
    ['plugin:deny-list', 'pass'],
    ['plugin:hang', 'pass'],
    ['plugin:lenient', 'pass'],
    ['plugin:remote-guard', 'pass'],
  ]);
  const rows = await auditRows(gw, traceId, 1);
  const completed = rows.find((r) => r.subject === 'gw.evt.toolcall.completed.v1')!;
  expect(completed.data.decision.annotations).toEqual({
    'a-annotate': { seen: 'calendar.list_events', user: 'alice' },
  });
});

it('denies the call a plugin denies, naming it in rule_trace and reasoning', async () => {
  const res = await call('blocked');
  expect(res.status).toBe(403);
  expect(res.body.error.code).toBe('POLICY.PLUGIN_DENIED');
  expect(res.body.decision.reasoning.at(-1)).toBe(
    'Denied by plugin deny-list: user blocked by the deny list',
  );
  expect(res.body.decision.rule_trace.at(-1)).toMatchObject({
    check: 'plugin:deny-list',
    outcome: 'fail',
  });
});

it('fails closed when a plugin crashes, and runs it again on the next call', async () => {
  const res = await call('crash');
  expect([res.status, res.body.error.code]).toEqual([503, 'POLICY.PLUGIN_FAILED']);
  expect(res.body.error.message).toMatch(/crash.*boom/);
  expect((await call('alice')).status).toBe(200);
});

it('fails closed when a plugin does not answer in time, and starts it afresh', async () => {
  const started = Date.now();
  const res = await call('hang');
  expect([res.status, res.body.error.code]).toEqual([503, 'POLICY.PLUGIN_FAILED']);
  expect(res.body.error.message).toMatch(/no answer within 300 ms/);
  expect(Date.now() - started).toBeLessThan(3000);
  expect((await call('alice')).status).toBe(200);
});

it('lets the call pass when a plugin set to on_error: allow fails', async () => {
  const res = await call('lenient');
  expect(res.status).toBe(200);
  expect(res.body.decision.rule_trace).toEqual(
    expect.arrayContaining([
      expect.objectContaining({
        check: 'plugin:lenient',
        outcome: 'pass',
        detail: expect.stringMatching(/on_error: allow/),
      }),
    ]),
  );
});

it('asks a remote plugin over NATS, and fails closed when it does not answer', async () => {
  const no = await call('remote-no');
  expect([no.status, no.body.error.code]).toEqual([403, 'POLICY.PLUGIN_DENIED']);
  expect(no.body.decision.reasoning.at(-1)).toMatch(/remote-guard: the remote guard says no/);
  await nc.close();
  const gone = await call('alice');
  expect([gone.status, gone.body.error.code]).toEqual([503, 'POLICY.PLUGIN_FAILED']);
  expect(gone.body.error.message).toMatch(/gw\.plugin\.remote-guard\.v1/);
});

it('loads a plugin again when its file changes', async () => {
  gw.config.write('plugins.yaml', 'plugins:\n  hang: { timeout_ms: 300 }\n');
  gw.config.write(
    'plugins/deny-list.mjs',
    `export function onToolCall(ctx) { return ctx.user_id === 'blocked-too' ? { deny: 'the new list' } : null; }\n`,
  );
  await waitFor(
    async () => ((await call('blocked-too')).status === 403 ? true : undefined),
    10_000,
    'the new deny-list to be loaded',
  );
  expect((await call('blocked')).status).toBe(200);
});
