import { open } from 'node:fs/promises';
import { Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import type { ReadableStream as WebStream } from 'node:stream/web';
import type { AuditRecord, VerifyReport } from '@sg/contracts';
import { choice, required, str } from '../args.js';
import { CliError, ExitCode, UsageError } from '../exit-codes.js';
import { plural, printable } from '../format.js';
import type { Command } from './command.js';

export const RECORD_STATUSES = [
  'success',
  'pending_approval',
  'denied',
  'rejected',
  'error',
] as const satisfies readonly AuditRecord['status'][];
type MissingStatus = Exclude<AuditRecord['status'], (typeof RECORD_STATUSES)[number]>;
const _everyStatus: [MissingStatus] extends [never] ? true : MissingStatus = true;

/** The whole walk's report: the last answer, with the rows of every piece counted. */
export type ChainReport = VerifyReport & { requests: number };

const verify: Command = {
  name: 'audit verify',
  summary: "check a project's audit hash chain and signed checkpoints, to the head",
  args: [],
  options: { project: { type: 'string', value: 'P', help: 'the project', required: true } },
  notes: [
    'A long chain is checked in pieces (each answer names where to continue); sg follows them to the end.',
    'Exit 1 when a row or checkpoint does not match; the first one is printed.',
  ],
  async run(input, ctx) {
    const project = required(input, 'project');
    const gw = ctx.gateway();
    let cursor: string | undefined;
    let rows = 0;
    let requests = 0;
    let first: VerifyReport | undefined;
    let last: VerifyReport;
    for (;;) {
      ({ body: last } = await gw.json<VerifyReport>('GET', '/api/audit/verify', {
        query: { project, cursor },
      }));
      requests++;
      rows += last.rows_checked;
      first ??= last;
      if (last.complete || last.first_mismatch) break;
      if (!last.next_cursor || last.next_cursor === cursor)
        throw new CliError(
          'the verification stopped before the chain head without a cursor to continue from',
          ExitCode.Unavailable,
        );
      cursor = last.next_cursor;
    }
    const report: ChainReport = { ...last, rows_checked: rows, from_seq: first.from_seq, requests };
    if (ctx.json) ctx.printJson(report);
    else ctx.print(chainSummary(report));
    return report.ok ? ExitCode.Ok : ExitCode.CheckFailed;
  },
};

export function chainSummary(r: ChainReport): string {
  const verdict = r.ok
    ? `project ${r.project}: the audit chain verifies`
    : r.first_mismatch
      ? `project ${r.project}: the audit chain DOES NOT VERIFY at chain_seq ${r.first_mismatch.chain_seq}${r.first_mismatch.event_id ? ` (event ${r.first_mismatch.event_id})` : ''}: ${printable(r.first_mismatch.reason)}`
      : `project ${r.project}: the audit chain DOES NOT VERIFY`;
  return [
    verdict,
    `  rows checked: ${r.rows_checked} (chain_seq ${r.from_seq} to ${r.last_seq}; head ${r.head_seq}${r.requests > 1 ? `; in ${r.requests} pieces` : ''})`,
    `  checkpoints: ${r.checkpoints_checked} checked${r.checkpoints_other_key ? `, ${r.checkpoints_other_key} signed with another key (not checked)` : ''}`,
  ].join('\n');
}

/** The error line that ends an export that failed after its headers (docs/audit-queries.md). */
interface ErrorLine {
  error: { code: string; message: string };
  trace_id?: string;
}

/**
 * Passes the JSONL through as it arrives, counting the records, and holds back the one line an
 * interrupted export ends with (`{"error": …}`, which no record starts with).
 */
export class ExportLines extends Transform {
  records = 0;
  error: ErrorLine | undefined;
  lastLine = '';
  private rest = '';
  private readonly decoder = new StringDecoder('utf8');

  constructor(private readonly onChunk: () => void = () => {}) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.onChunk();
    const lines = (this.rest + this.decoder.write(chunk)).split('\n');
    this.rest = lines.pop()!;
    this.pass(lines);
    done();
  }

  override _flush(done: TransformCallback): void {
    const tail = this.rest + this.decoder.end();
    if (tail) this.pass([tail]);
    done();
  }

  private pass(lines: string[]): void {
    const records: string[] = [];
    for (const line of lines) {
      if (!line || this.error) continue;
      if (line.startsWith('{"error"')) {
        this.error = JSON.parse(line) as ErrorLine;
        continue;
      }
      records.push(line);
    }
    if (records.length === 0) return;
    this.records += records.length;
    this.lastLine = records[records.length - 1]!;
    this.push(`${records.join('\n')}\n`);
  }

  /** The timestamp of the last record passed, to resume from. */
  lastTimestamp(): string | undefined {
    try {
      return (JSON.parse(this.lastLine) as { timestamp?: string }).timestamp;
    } catch {
      return undefined;
    }
  }
}

const exportCommand: Command = {
  name: 'audit export',
  summary: 'every matching audit record, streamed as JSON Lines (stdout, or a file with -o)',
  args: [],
  options: {
    project: { type: 'string', value: 'P', help: 'only this project' },
    from: { type: 'string', value: 'TIME', help: 'records at or after TIME (ISO 8601, or a date)' },
    to: { type: 'string', value: 'TIME', help: 'records before TIME' },
    status: { type: 'string', value: 'S', help: RECORD_STATUSES.join(', ') },
    agent: { type: 'string', value: 'ID', help: 'only this agent' },
    tool: { type: 'string', value: 'NAME', help: 'only this tool' },
    session: { type: 'string', value: 'ID', help: 'only this session' },
    trace: { type: 'string', value: 'ID', help: 'only this trace' },
    output: { type: 'string', short: 'o', value: 'FILE', help: 'write to FILE instead of stdout' },
  },
  notes: [
    'The records are written as they arrive: the export is never held in memory.',
    'If the gateway stops the export midway, sg says how many records arrived and how to resume (exit 5).',
    'Example: sg audit export --project default --from 2026-05-01 --to 2026-06-01 -o may.jsonl',
  ],
  async run(input, ctx) {
    const query = {
      project: str(input, 'project'),
      from: str(input, 'from'),
      to: str(input, 'to'),
      status: choice(input, 'status', RECORD_STATUSES),
      agent_id: str(input, 'agent'),
      tool: str(input, 'tool'),
      session_id: str(input, 'session'),
      trace_id: str(input, 'trace'),
    };
    const file = str(input, 'output');
    const gw = ctx.gateway();
    const answer = await gw.stream('/api/audit/export', query);
    const lines = new ExportLines(answer.alive);
    const source = Readable.fromWeb(answer.body as WebStream);
    let sink: Writable = ctx.stdout;
    if (file) {
      try {
        sink = (await open(file, 'w')).createWriteStream();
      } catch (err) {
        await answer.body.cancel().catch(() => {});
        answer.done();
        throw new UsageError(
          `cannot write ${JSON.stringify(printable(file))}: ${(err as { code?: string }).code ?? err}`,
        );
      }
    }
    try {
      await pipeline(source, lines, sink, { end: Boolean(file) });
    } catch (err) {
      // A reader that closed stdout (`| head`) has what it wanted.
      if ((err as { code?: string }).code === 'EPIPE') return ExitCode.Ok;
      throw new CliError(
        `the export was cut off after ${plural(lines.records, 'record')} (${printable((err as Error).message)})${resumeHint(lines)}`,
        ExitCode.Unavailable,
      );
    } finally {
      answer.done();
    }
    if (lines.error)
      throw new CliError(
        `${printable(lines.error.error.message)}; ${plural(lines.records, 'record')} arrived${resumeHint(lines)}`,
        ExitCode.Unavailable,
        lines.error.error.code,
      );
    if (file) {
      if (ctx.json) ctx.printJson({ records: lines.records, file });
      else ctx.print(`wrote ${plural(lines.records, 'record')} to ${file}`);
    }
    return ExitCode.Ok;
  },
};

function resumeHint(lines: ExportLines): string {
  const at = lines.lastTimestamp();
  return at
    ? `; resume with --from ${at} (records of that exact time come again: skip the audit_ids you have)`
    : '';
}

export const auditCommands: Command[] = [verify, exportCommand];
