import { basename, dirname } from 'node:path';
import type { LintProblem, PolicyKind, PolicyVersion, ResponseOf } from '@sg/contracts';
import { choice, int, required, str } from '../args.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import { cell, clip, plural, printable, shortTime, table } from '../format.js';
import { segment, type Gateway } from '../gateway.js';
import type { Command } from './command.js';
import { readInput } from './files.js';
import { collect } from './pages.js';
import { publicKeyOf, signatureProblem } from './signatures.js';

export const POLICY_KINDS = [
  'policies',
  'contextual_policies',
  'model_keys',
] as const satisfies readonly PolicyKind[];
// Every kind of the contracts is listed: a new kind fails the typecheck until it is added here.
type MissingKind = Exclude<PolicyKind, (typeof POLICY_KINDS)[number]>;
const _everyKind: [MissingKind] extends [never] ? true : MissingKind = true;

type HistoryPage = ResponseOf<'gw.policy.history.v1'>;
type Saved = ResponseOf<'gw.policy.rollback.v1'>;
type VersionDetail = ResponseOf<'gw.policy.version.v1'>;
/** Most versions one page of the history holds. */
const HISTORY_PAGE = 200;

const project = {
  type: 'string',
  value: 'P',
  help: 'the project',
  required: true,
} as const;
const kind = {
  type: 'string',
  value: 'K',
  help: 'policies, contextual_policies or model_keys (default: every kind)',
} as const;

/** `policies/default.yaml` names its kind and project; any other path names neither. */
export function kindAndProjectOf(path: string): { kind: PolicyKind; project: string } | null {
  const dir = basename(dirname(path));
  const file = basename(path);
  const m = /^([a-z0-9][a-z0-9_-]{0,62})\.ya?ml$/.exec(file);
  if (!m || !(POLICY_KINDS as readonly string[]).includes(dir)) return null;
  return { kind: dir as PolicyKind, project: m[1]! };
}

/** `file:line:column: reason`, as compilers and editors print problems. */
export function problemLine(file: string, p: LintProblem): string {
  const at = [p.line, p.column].filter((n) => n !== null).join(':');
  return `${file}${at ? `:${at}` : ''}: ${printable(p.reason)}`;
}

const lint: Command = {
  name: 'policy lint',
  summary: 'check a policy file as the gateway would load it (nothing is saved)',
  args: ['file'],
  options: {
    project: {
      ...project,
      required: false,
      help: 'the project (default: from a <kind>/<project>.yaml path)',
    },
    kind: { ...kind, help: 'policies, contextual_policies or model_keys (default: from the path)' },
  },
  notes: [
    'FILE may be - for standard input.',
    'Exit 1 when the file has problems, each printed as FILE:LINE:COLUMN: REASON.',
    'Example: sg policy lint config/policies/default.yaml',
  ],
  async run(input, ctx) {
    const file = input.args.file!;
    const fromPath = file === '-' ? null : kindAndProjectOf(file);
    const k = choice(input, 'kind', POLICY_KINDS) ?? fromPath?.kind;
    const p = str(input, 'project') ?? fromPath?.project;
    if (!k || !p)
      throw new UsageError(
        `give --project and --kind: ${JSON.stringify(printable(file))} is not a <kind>/<project>.yaml path`,
      );
    const yaml = await readInput(file);
    const { body } = await ctx
      .gateway()
      .json<{ ok: boolean; problems: LintProblem[] }>('POST', '/api/policy/lint', {
        body: { project: p, kind: k, yaml },
      });
    if (ctx.json) ctx.printJson(body);
    else if (body.ok) ctx.print(`${file}: ok (${k}/${p}.yaml)`);
    else {
      for (const problem of body.problems) ctx.print(problemLine(file, problem));
      ctx.print(`${plural(body.problems.length, 'problem')} in ${file} (as ${k}/${p}.yaml)`);
    }
    return body.ok ? ExitCode.Ok : ExitCode.CheckFailed;
  },
};

/** Versions of one project (and kind), newest first, up to `limit`. */
function versionsOf(gw: Gateway, p: string, k: PolicyKind | undefined, limit?: number) {
  return collect<PolicyVersion>(
    async (cursor, size) => {
      const { body } = await gw.json<HistoryPage>('GET', '/api/policy/history', {
        query: { project: p, kind: k, cursor, limit: size },
      });
      return { items: body.versions, next: body.next_cursor };
    },
    HISTORY_PAGE,
    limit,
  );
}

const history: Command = {
  name: 'policy history',
  summary: "a project's policy versions, newest first",
  args: [],
  options: {
    project,
    kind,
    limit: { type: 'string', value: 'N', help: 'show the newest N versions (default 50)' },
  },
  notes: ['Example: sg policy history --project default --kind policies --limit 10'],
  async run(input, ctx) {
    const p = required(input, 'project');
    const k = choice(input, 'kind', POLICY_KINDS);
    const limit = int(input, 'limit', 1, 100_000) ?? 50;
    const { items, more } = await versionsOf(ctx.gateway(), p, k, limit);
    if (ctx.json) {
      ctx.printJson({ versions: items, more });
      return ExitCode.Ok;
    }
    if (items.length === 0) {
      ctx.print(`no versions of ${p}${k ? ` ${k}` : ''}`);
      return ExitCode.Ok;
    }
    ctx.print(
      table(
        ['ID', 'KIND', 'CREATED', 'SOURCE', 'AUTHOR', 'SIGNATURE', 'REASON'],
        items.map((v) => [
          v.id,
          v.kind,
          shortTime(v.created_at),
          v.source,
          cell(v.author),
          v.verified ? `ok (${cell(v.key_id)})` : v.key_id ? 'FAILS' : 'unsigned',
          clip(cell(v.reason), 60),
        ]),
      ),
    );
    if (more) ctx.print(`(newest ${items.length} shown; --limit shows more)`);
    return ExitCode.Ok;
  },
};

export interface VersionProblem {
  id: string;
  problem: string;
}

/**
 * What is wrong with one kind's history (newest first): a version whose signature or digest
 * does not verify, and a parent that is not the version before it (a version removed or
 * inserted behind the gateway's back). The signatures are the gateway's word (`verified`), or,
 * given `checked` (what signatureProblem found here for each version id), sg's own.
 */
export function versionProblems(
  versions: PolicyVersion[],
  checked?: Map<string, string | null>,
): VersionProblem[] {
  const problems: VersionProblem[] = [];
  versions.forEach((v, i) => {
    const signature = checked
      ? checked.get(v.id)
      : v.verified
        ? null
        : v.key_id
          ? `its signature or content digest does not verify (key ${v.key_id})`
          : 'it is unsigned (stored while no signing key was configured)';
    if (signature) problems.push({ id: v.id, problem: signature });
    const before = versions[i + 1]?.id ?? null;
    if (v.parent_id !== before)
      problems.push({
        id: v.id,
        problem: before
          ? `its parent is ${v.parent_id ?? 'none'}, but the version before it is ${before}`
          : `its parent ${v.parent_id} is not in the history`,
      });
  });
  return problems;
}

const verify: Command = {
  name: 'policy verify',
  summary: "check every version's signature and parent link in a project's history",
  args: [],
  options: {
    project,
    kind,
    'public-key': {
      type: 'string',
      value: 'FILE',
      help: "check each version's content digest and signature here, with this Ed25519 public key (PEM)",
    },
  },
  notes: [
    "sg checks that each parent is the version before it. Without --public-key the signatures are the gateway's word (verified); with it, sg reads every version and checks its digest and signature itself, so a gateway that lies cannot pass.",
    'Keep the key from where it was made (the signing secret), or take it once from GET /api/policy/signing-key and keep that copy.',
    'Exit 1 when a version does not verify or the chain of parents is broken.',
  ],
  async run(input, ctx) {
    const p = required(input, 'project');
    const only = choice(input, 'kind', POLICY_KINDS);
    const keyFile = str(input, 'public-key');
    const key = keyFile ? publicKeyOf(await readInput(keyFile), keyFile) : null;
    const reports = [];
    for (const k of only ? [only] : POLICY_KINDS) {
      const { items } = await versionsOf(ctx.gateway(), p, k);
      let checked: Map<string, string | null> | undefined;
      if (key) {
        checked = new Map();
        for (const v of items) {
          const { body } = await ctx
            .gateway()
            .json<VersionDetail>('GET', `/api/policy/versions/${segment(v.id)}`);
          checked.set(v.id, signatureProblem(v, body.content, key));
        }
      }
      const problems = versionProblems(items, checked);
      reports.push({
        project: p,
        kind: k,
        versions: items.length,
        ok: problems.length === 0,
        problems,
      });
    }
    const ok = reports.every((r) => r.ok);
    // Who checked the signatures: sg with the given key, or the gateway.
    const signatures = key ? 'checked by sg' : "the gateway's word";
    if (ctx.json) ctx.printJson({ project: p, ok, signatures, kinds: reports });
    else {
      ctx.print(
        table(
          ['KIND', 'VERSIONS', 'RESULT'],
          reports.map((r) => [
            r.kind,
            String(r.versions),
            r.ok ? 'ok' : `FAILED (${plural(r.problems.length, 'problem')})`,
          ]),
        ),
      );
      for (const r of reports)
        for (const problem of r.problems) ctx.print(`${r.kind} ${problem.id}: ${problem.problem}`);
      const total = reports.reduce((n, r) => n + r.versions, 0);
      ctx.print(
        `${
          ok
            ? `project ${p}: all ${plural(total, 'version')} verify`
            : `project ${p}: the history does not verify`
        } (signatures: ${key ? `checked here with ${printable(keyFile!)}` : "the gateway's word; check them here with --public-key"})`,
      );
    }
    return ok ? ExitCode.Ok : ExitCode.CheckFailed;
  },
};

const rollback: Command = {
  name: 'policy rollback',
  summary: 'make a version of the history active again, as a new version',
  args: ['version_id'],
  options: {
    project,
    reason: { type: 'string', value: 'R', help: 'why (kept with the new version)', required: true },
  },
  notes: [
    'Example: sg policy rollback 3f0c…-uuid --project default --reason "revert the Friday change"',
  ],
  async run(input, ctx) {
    const id = input.args.version_id!;
    const p = required(input, 'project');
    const { body } = await ctx
      .gateway()
      .json<Saved>('POST', `/api/policy/rollback/${segment(id)}`, {
        headers: { 'x-project-id': p },
        body: { reason: required(input, 'reason') },
      });
    if (ctx.json) ctx.printJson(body);
    else if (body.created)
      ctx.print(
        `rolled back ${p} ${body.version.kind} to ${id}: new version ${body.version.id} is active`,
      );
    else
      ctx.print(
        `${id} is already active in ${p} ${body.version.kind}; nothing changed (version ${body.version.id})`,
      );
    return ExitCode.Ok;
  },
};

export const policyCommands: Command[] = [lint, history, verify, rollback];
