import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Simulation } from '@sg/contracts';
import { UsageError } from '../exit-codes.js';
import type { Input } from './command.js';
import { againstText, simulateBody, simulationSummary } from './simulate.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sg-sim-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const input = (opts: Input['opts']): Input => ({ args: {}, opts: { project: 'default', ...opts } });

describe('simulateBody', () => {
  it('builds each source of docs/analytics.md, with what to simulate against', async () => {
    expect(await simulateBody(input({ session: 'sess-9' }))).toEqual({
      project: 'default',
      session_id: 'sess-9',
    });
    expect(
      await simulateBody(
        input({ from: '2026-04-24', to: '2026-05-01T00:00:00Z', limit: '500', version: 'v-1' }),
      ),
    ).toEqual({
      project: 'default',
      from: '2026-04-24T00:00:00Z',
      to: '2026-05-01T00:00:00Z',
      limit: 500,
      version_id: 'v-1',
    });
    const trace = join(dir, 'trace.json');
    writeFileSync(
      trace,
      JSON.stringify({ model_id: 'gpt-4o', session_id: 's', tool_calls: [{ tool: 't' }] }),
    );
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'rules: []\n');
    expect(await simulateBody(input({ 'trace-file': trace, 'policy-file': policy }))).toEqual({
      model_id: 'gpt-4o',
      session_id: 's',
      tool_calls: [{ tool: 't' }],
      project: 'default',
      policy_yaml: 'rules: []\n',
    });
  });

  it.each([
    [{}, 'give one source'],
    [{ session: 's', from: '2026-05-01', to: '2026-05-02' }, 'give one source'],
    [{ from: '2026-05-01' }, 'a window needs both --from and --to'],
    [{ session: 's', limit: '5' }, '--limit applies to a window'],
    [
      { session: 's', version: 'v', 'policy-file': 'f' },
      'give --version or --policy-file, not both',
    ],
    [
      { 'trace-file': '/nonexistent/trace.json' },
      'cannot read "/nonexistent/trace.json": no such file',
    ],
  ])('refuses %j', async (opts, message) => {
    const err = await simulateBody(input(opts)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(message);
  });

  it('refuses a trace file that is not a JSON object', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '[1, 2]');
    await expect(simulateBody(input({ 'trace-file': bad }))).rejects.toThrow('is not a trace');
    writeFileSync(bad, '{"model_id": ');
    await expect(simulateBody(input({ 'trace-file': bad }))).rejects.toThrow('is not JSON');
  });
});

describe('simulationSummary', () => {
  const call = (index: number, difference: Simulation['calls'][number]['difference']) => ({
    index,
    trace_id: `t-${index}`,
    at: '2026-04-24T09:12:44.120Z',
    agent_id: 'gpt-4o',
    session_id: 'sess-1',
    tool: 'calendar.create_event',
    recorded: { allowed: true, code: null, requires_approval: false, outcome: 'allowed' },
    simulated:
      difference === 'none'
        ? {
            allowed: true,
            code: null,
            requires_approval: false,
            reason: '',
            risk_score: 0,
            rule: null,
            check: null,
          }
        : {
            allowed: false,
            code: 'POLICY.TOOL_NOT_ALLOWED' as const,
            requires_approval: false,
            reason: '',
            risk_score: 0,
            rule: null,
            check: 'allow_tools',
          },
    difference,
  });
  const simulation: Simulation = {
    project: 'default',
    against: { kind: 'candidate', version: 'candidate' },
    calls: [call(0, 'none'), call(17, 'allow→deny')],
    summary: {
      calls: 412,
      compared: 412,
      changed: 1,
      allow_to_deny: 1,
      deny_to_allow: 0,
      code_changed: 0,
      approval_changed: 0,
      simulated_allowed: 411,
      simulated_denied: 1,
    },
    truncated: true,
    omitted: 0,
    took_ms: 184,
  } as Simulation;

  it('lists only the changed calls when there are recorded decisions', () => {
    const text = simulationSummary(simulation);
    expect(text.split('\n')).toEqual([
      'project default: 412 calls decided again against the candidate policy',
      '  simulated: 411 allowed, 1 denied',
      '  compared with the recorded decisions: 412; changed: 1 (allow→deny 1, deny→allow 0, code 0, approval 0)',
      '  the window held more calls than --limit: the oldest were replayed',
      '#   TIME                  AGENT   SESSION  TOOL                   RECORDED  SIMULATED                     DIFFERENCE',
      '17  2026-04-24T09:12:44Z  gpt-4o  sess-1   calendar.create_event  allow     deny POLICY.TOOL_NOT_ALLOWED  allow→deny',
    ]);
  });

  it('names what the calls were decided against', () => {
    expect(againstText({ kind: 'live', version: 'c0ffee' })).toBe(
      'the live policy (config version c0ffee)',
    );
    expect(againstText({ kind: 'version', version: 'v-1' })).toBe('stored version v-1');
  });
});
