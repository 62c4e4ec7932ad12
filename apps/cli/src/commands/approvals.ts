import type { ApprovalStatus, ApprovalsPage, ApprovalView } from '@sg/contracts';
import { choice, int, str } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import { brief, cell, plural, printable, shortTime, table } from '../format.js';
import type { Command, Context, Input } from './command.js';
import { collect } from './pages.js';

export const APPROVAL_STATUSES = [
  'pending',
  'approved',
  'rejected',
  'expired',
  'denied',
  'executed',
  'failed',
] as const satisfies readonly ApprovalStatus[];
type MissingStatus = Exclude<ApprovalStatus, (typeof APPROVAL_STATUSES)[number]>;
const _everyStatus: [MissingStatus] extends [never] ? true : MissingStatus = true;

/** Most approvals one page of the queue holds. */
const APPROVALS_PAGE = 200;

export function approvalsTable(approvals: ApprovalView[], status: ApprovalStatus): string {
  const pending = status === 'pending';
  return table(
    [
      'ID',
      'PROJECT',
      'AGENT',
      'TOOL',
      'RISK',
      'CREATED',
      pending ? 'EXPIRES' : 'RESOLVED',
      ...(pending ? [] : ['APPROVER']),
      'ARGUMENTS',
    ],
    approvals.map((a) => [
      a.approval_id,
      cell(a.project),
      cell(a.agent_id),
      cell(a.tool),
      a.risk_score === null ? '-' : a.risk_score.toFixed(2),
      shortTime(a.created_at),
      shortTime(pending ? a.expires_at : a.resolved_at),
      ...(pending ? [] : [cell(a.approver)]),
      brief(a.arguments, 60),
    ]),
  );
}

const list: Command = {
  name: 'approvals list',
  summary: 'the approvals queue: pending calls (soonest expiry first), or those of another status',
  args: [],
  options: {
    status: {
      type: 'string',
      value: 'S',
      help: `${APPROVAL_STATUSES.join(', ')} (default pending)`,
    },
    project: { type: 'string', value: 'P', help: 'only this project (default: every project)' },
    limit: { type: 'string', value: 'N', help: 'show at most N approvals (default 50)' },
  },
  notes: ['Example: sg approvals list --project default'],
  async run(input, ctx) {
    const status = choice(input, 'status', APPROVAL_STATUSES) ?? 'pending';
    const project = str(input, 'project');
    const limit = int(input, 'limit', 1, 100_000) ?? 50;
    const gw = ctx.gateway();
    const { items, more } = await collect<ApprovalView>(
      async (cursor, size) => {
        const { body } = await gw.json<ApprovalsPage>('GET', '/api/approvals', {
          query: { status, project, limit: size, cursor },
        });
        return { items: body.approvals, next: body.next_cursor };
      },
      APPROVALS_PAGE,
      limit,
    );
    if (ctx.json) {
      ctx.printJson({ approvals: items, more });
      return ExitCode.Ok;
    }
    const where = project ? ` in ${project}` : '';
    if (items.length === 0) ctx.print(`no ${status} approvals${where}`);
    else {
      ctx.print(approvalsTable(items, status));
      ctx.print(
        `${plural(items.length, `${status} approval`)}${where}${more ? ' (more: raise --limit)' : ''}`,
      );
    }
    return ExitCode.Ok;
  },
};

/** POST /approve's answer (docs/api.md#approvals): the approval's new status and, once run, the outcome. */
export interface Resolution {
  approval_id: string;
  status: ApprovalStatus;
  http_status?: number;
  result?: unknown;
  error?: { code: string; message: string };
  trace_id: string;
}

export function resolutionSummary(r: Resolution): string {
  const head = `approval ${r.approval_id}: ${r.status}`;
  switch (r.status) {
    case 'executed':
      return `${head}; the call ran (HTTP ${r.http_status ?? 200})\n  result: ${brief(r.result ?? null)}`;
    case 'failed':
      return `${head}; the call ran and failed (HTTP ${r.http_status}): ${printable(r.error?.code ?? '')} ${printable(r.error?.message ?? '')}`;
    case 'denied':
      return `${head}; the policy, checked again, denies the call: ${printable(r.error?.code ?? '')} ${printable(r.error?.message ?? '')}`;
    default:
      return head;
  }
}

async function resolve(input: Input, ctx: Context, approved: boolean): Promise<ExitCode> {
  const comment = str(input, 'comment');
  const { body } = await ctx.gateway().json<Resolution>('POST', '/approve', {
    body: { approval_id: input.args.id!, approved, ...(comment !== undefined ? { comment } : {}) },
    // A denial by the re-check (403) and a run that failed (its error's status) are outcomes of
    // the approval, not refusals of the request: they carry the approval's status.
    outcome: (_status, b) =>
      typeof (b as Partial<Resolution> | null)?.approval_id === 'string' &&
      typeof (b as Partial<Resolution>).status === 'string',
  });
  if (ctx.json) ctx.printJson(body);
  else ctx.print(resolutionSummary(body));
  return body.status === 'failed' || body.status === 'denied' ? ExitCode.CheckFailed : ExitCode.Ok;
}

const comment = {
  type: 'string',
  value: 'C',
  help: 'why (1-500 characters; kept with the approval and in the audit)',
} as const;

const approve: Command = {
  name: 'approvals approve',
  summary: 'approve a pending call: the policy is checked again, then the stored call runs',
  args: ['id'],
  options: { comment },
  notes: [
    'Exit 1 when the re-check denies the call or the call fails when it runs.',
    'Example: sg approvals approve 5b0c…-uuid --comment "ticket 42"',
  ],
  run: (input, ctx) => resolve(input, ctx, true),
};

const reject: Command = {
  name: 'approvals reject',
  summary: 'reject a pending call: it never runs',
  args: ['id'],
  options: { comment },
  notes: ['Example: sg approvals reject 5b0c…-uuid --comment "not during the freeze"'],
  run: (input, ctx) => resolve(input, ctx, false),
};

export const approvalsCommands: Command[] = [list, approve, reject];
