import { startUpstream, waitFor, type TestUpstream } from '@sg/testing';
import { AGENT_KEY, envelope, startGateway, type Gateway } from './harness.js';

// A tool run is audited by the executor's own event, published before it answers: the ingress
// dying after the executor had the call loses the answer, never the record of the run (ADR 0010).
let gw: Gateway;
let slow: TestUpstream;

beforeAll(async () => {
  slow = await startUpstream();
  gw = await startGateway({
    configure: (c) => {
      c.write('policies/default.yaml', 'rules:\n  - model: gpt-4o\n    allow_tools: ["slow.*"]\n');
      c.write('model_keys/default.yaml', `models:\n  gpt-4o:\n    key: ${AGENT_KEY}\n`);
      c.write('tools/slow.lookup.json', {
        name: 'slow.lookup',
        input_schema: { type: 'object', properties: { customer: { type: 'string' } } },
        upstream: { type: 'http', url: `${slow.url}/slow/1500`, timeout_ms: 5000 },
      });
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  await slow?.close();
});

it('keeps the record of a tool run, with its arguments, when the ingress is killed while the tool runs', async () => {
  const call = envelope({ tool: 'slow.lookup', arguments: { customer: 'cust-42' } });
  const answer = fetch(`${gw.url}/api/tools/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'X-API-Key': AGENT_KEY },
    body: JSON.stringify(call),
  }).then(
    (res) => res.status,
    () => 'no answer',
  );
  // The executor has the call once the upstream sees it; then the ingress dies.
  await waitFor(
    async () => (slow.calls.length > 0 ? true : undefined),
    10_000,
    'the upstream to be called',
  );
  gw.stack.children.get('ingress')!.kill('SIGKILL');
  expect(await answer).toBe('no answer');

  const rows = await waitFor(
    async () => {
      const res = await gw.db.query<{
        subject: string;
        source: string;
        data: Record<string, unknown>;
      }>(
        `SELECT subject, source, data FROM audit_events WHERE data->>'request_id' = $1 ORDER BY stream_seq`,
        [call.request_id],
      );
      return res.rows.length > 0 ? res.rows : undefined;
    },
    15_000,
    'the record of the run',
  );
  // The executor recorded the call, with its run, before it answered the ingress (ADR 0011).
  expect(rows.map((r) => `${r.source}:${r.subject}`)).toEqual([
    'executor:gw.evt.toolcall.completed.v1',
  ]);
  expect(rows[0]!.data).toMatchObject({
    outcome: 'allowed',
    tool: 'slow.lookup',
    agent_id: 'gpt-4o',
    arguments: { customer: 'cust-42' },
    decision: { allowed: true },
    execution: { status: 'ok', upstream_status: 200 },
  });
  expect(slow.calls).toHaveLength(1);
}, 40_000);
