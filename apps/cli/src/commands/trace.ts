import type { StoredEvent, TraceResult } from '@sg/contracts';
import { ExitCode } from '../exit-codes.js';
import { cell, clip, plural, printable, shortTime, table } from '../format.js';
import { segment } from '../gateway.js';
import type { Command } from './command.js';

/** The fields of an event's data that say what happened, in the order they are shown. */
const DETAIL_KEYS = [
  'tool',
  'agent_id',
  'outcome',
  'status',
  'http_status',
  'code',
  'approver',
  'principal',
  'method',
  'path',
] as const;

/** `gw.evt.toolcall.completed.v1` → `toolcall.completed`. */
export function eventName(subject: string): string {
  return subject.replace(/^(?:.*\.)?gw\.evt\./, '').replace(/\.v\d+$/, '');
}

export function eventDetail(data: unknown): string {
  if (!data || typeof data !== 'object') return '';
  const d = data as Record<string, unknown>;
  return DETAIL_KEYS.filter((k) => d[k] !== undefined && d[k] !== null)
    .map((k) => `${k}=${cell(d[k])}`)
    .join(' ');
}

export function traceTable(events: StoredEvent[]): string {
  return table(
    ['TIME', 'SOURCE', 'EVENT', 'DETAIL'],
    events.map((e) => [
      shortTime(e.occurred_at),
      cell(e.source),
      printable(eventName(e.subject)),
      clip(eventDetail(e.data), 100),
    ]),
  );
}

const trace: Command = {
  name: 'trace',
  summary: "every stored event of one call's trace, in order",
  args: ['trace_id'],
  options: {},
  notes: [
    'TRACE_ID is the trace_id of an answer (or its X-Trace-Id header).',
    'Example: sg trace 4bf92f3577b34da6a3ce929d0e0e4736',
  ],
  async run(input, ctx) {
    const id = input.args.trace_id!;
    // The gateway checks the id (400 REQUEST.INVALID_TRACE_ID: exit 2); encoded, it stays one segment.
    const { body } = await ctx.gateway().json<TraceResult>('GET', `/api/trace/${segment(id)}`);
    if (ctx.json) ctx.printJson(body);
    else {
      ctx.print(`trace ${body.trace_id}: ${plural(body.events.length, 'event')}`);
      if (body.events.length) ctx.print(traceTable(body.events));
    }
    return ExitCode.Ok;
  },
};

export const traceCommands: Command[] = [trace];
