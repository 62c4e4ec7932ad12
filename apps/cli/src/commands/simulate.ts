import type { Simulation } from '@sg/contracts';
import { int, isoTime, required, str } from '../args.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import { cell, plural, printable, shortTime, table } from '../format.js';
import type { Command, Input } from './command.js';
import { readInput, readJsonInput } from './files.js';

/** Most calls the text output lists; --json has them all. */
const SHOWN = 50;

/** The body of POST /api/simulate (docs/analytics.md#post-apisimulate) from the options. */
export async function simulateBody(input: Input): Promise<Record<string, unknown>> {
  const project = required(input, 'project');
  const session = str(input, 'session');
  const traceFile = str(input, 'trace-file');
  const from = isoTime(input, 'from');
  const to = isoTime(input, 'to');
  const limit = int(input, 'limit', 1, 10_000);
  const version = str(input, 'version');
  const policyFile = str(input, 'policy-file');
  const window = from !== undefined || to !== undefined;
  const sources = [session !== undefined, traceFile !== undefined, window].filter(Boolean).length;
  if (sources !== 1)
    throw new UsageError(
      'give one source: --session S (a recorded session), --trace-file F (a trace) or --from and --to (recorded calls)',
    );
  if (window && (from === undefined || to === undefined))
    throw new UsageError('a window needs both --from and --to');
  if (limit !== undefined && !window)
    throw new UsageError('--limit applies to a window (--from, --to)');
  if (version !== undefined && policyFile !== undefined)
    throw new UsageError('give --version or --policy-file, not both (neither: the live policy)');

  let source: Record<string, unknown>;
  if (traceFile !== undefined) {
    const trace = await readJsonInput(traceFile);
    if (!trace || typeof trace !== 'object' || Array.isArray(trace))
      throw new UsageError(
        `${JSON.stringify(printable(traceFile))} is not a trace: send {"model_id", "session_id", "tool_calls": [{"tool", "input"}]}`,
      );
    source = trace as Record<string, unknown>;
  } else if (session !== undefined) source = { session_id: session };
  else source = { from, to, ...(limit !== undefined ? { limit } : {}) };

  return {
    ...source,
    project,
    ...(version !== undefined ? { version_id: version } : {}),
    ...(policyFile !== undefined ? { policy_yaml: await readInput(policyFile) } : {}),
  };
}

/** What the calls were decided against, in words. */
export function againstText(a: Simulation['against']): string {
  switch (a.kind) {
    case 'live':
      return `the live policy (config version ${a.version})`;
    case 'version':
      return `stored version ${a.version}`;
    case 'candidate':
      return 'the candidate policy';
  }
}

export function simulationSummary(s: Simulation): string {
  const m = s.summary;
  const lines = [
    `project ${s.project}: ${plural(m.calls, 'call')} decided again against ${againstText(s.against)}`,
    `  simulated: ${m.simulated_allowed} allowed, ${m.simulated_denied} denied`,
    m.compared === 0
      ? '  compared: none (a trace has no recorded decisions)'
      : `  compared with the recorded decisions: ${m.compared}; changed: ${m.changed} (allow→deny ${m.allow_to_deny}, deny→allow ${m.deny_to_allow}, code ${m.code_changed}, approval ${m.approval_changed})`,
  ];
  if (s.truncated)
    lines.push('  the window held more calls than --limit: the oldest were replayed');
  if (s.omitted) lines.push(`  ${s.omitted} calls left out of the answer (counted in the summary)`);
  // With recorded decisions, what matters is what changed; a trace has only its simulated ones.
  const rows = m.compared === 0 ? s.calls : s.calls.filter((c) => c.difference !== 'none');
  if (m.compared > 0 && rows.length === 0) lines.push('  no decision changed');
  if (rows.length) {
    lines.push(
      table(
        ['#', 'TIME', 'AGENT', 'SESSION', 'TOOL', 'RECORDED', 'SIMULATED', 'DIFFERENCE'],
        rows
          .slice(0, SHOWN)
          .map((c) => [
            String(c.index),
            shortTime(c.at),
            cell(c.agent_id),
            cell(c.session_id),
            cell(c.tool),
            c.recorded
              ? verdict(c.recorded.allowed, c.recorded.code, c.recorded.requires_approval)
              : '-',
            verdict(c.simulated.allowed, c.simulated.code, c.simulated.requires_approval),
            c.difference === 'none' ? '-' : c.difference,
          ]),
      ),
    );
    if (rows.length > SHOWN)
      lines.push(`… and ${rows.length - SHOWN} more (--json lists them all)`);
  }
  return lines.join('\n');
}

function verdict(allowed: boolean, code: string | null, approval: boolean): string {
  if (!allowed) return `deny ${cell(code)}`;
  return approval ? 'allow (approval)' : 'allow';
}

const simulate: Command = {
  name: 'simulate',
  summary:
    'decide recorded calls or a trace again, against the live policy, a version or a candidate file',
  args: [],
  options: {
    project: { type: 'string', value: 'P', help: 'the project', required: true },
    session: { type: 'string', value: 'S', help: 'source: the recorded calls of session S' },
    'trace-file': {
      type: 'string',
      value: 'F',
      help: 'source: a trace, JSON {"model_id", "session_id", "tool_calls": [{"tool", "input"}]}',
    },
    from: {
      type: 'string',
      value: 'TIME',
      help: 'source: the recorded calls from TIME (with --to)',
    },
    to: { type: 'string', value: 'TIME', help: '... up to TIME (excluded)' },
    limit: {
      type: 'string',
      value: 'N',
      help: 'a window replays at most N calls, the oldest (default 10000)',
    },
    version: { type: 'string', value: 'V', help: 'against: stored version V (policy history)' },
    'policy-file': { type: 'string', value: 'F', help: 'against: the candidate policies file F' },
    'fail-on-change': { type: 'boolean', help: 'exit 1 when a recorded decision would change' },
  },
  notes: [
    'Nothing runs and nothing changes: only the simulation itself is audited.',
    'Example: sg simulate --project default --from 2026-04-24 --to 2026-05-01 --policy-file policies/default.yaml --fail-on-change',
  ],
  async run(input, ctx) {
    const body = await simulateBody(input);
    const { body: simulation } = await ctx
      .gateway()
      .json<Simulation>('POST', '/api/simulate', { body });
    if (ctx.json) ctx.printJson(simulation);
    else ctx.print(simulationSummary(simulation));
    return input.opts['fail-on-change'] && simulation.summary.changed > 0
      ? ExitCode.CheckFailed
      : ExitCode.Ok;
  },
};

export const simulateCommands: Command[] = [simulate];
