import { Inject, Injectable } from '@nestjs/common';
import { lintConfigText, policyFileSchema, type PolicyFile } from '@sg/config';
import {
  GatewayError,
  POLICY_PROPOSAL_EVENT,
  type Proposal,
  type RequestOf,
  type ResponseOf,
} from '@sg/contracts';
import { ConfigSync, type MessageContext, NatsBus } from '@sg/messaging';
import type { Pool } from '@sg/runtime';
import { createTwoFilesPatch } from 'diff';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseDocument } from 'yaml';
import { PG } from '../approvals/approval-store.js';
import { VersionPublisher } from '../versions/version-publisher.js';
import { VersionSigner } from '../versions/version-signer.js';
import { guardStore } from '../versions/version-store.js';
import { checkGuardrails, mergeProposal } from './guardrails.js';

/** Nesting a proposal's YAML may have. */
const MAX_DEPTH = 16;
/** A proposal names only its own rules and settings: the policy schema with nothing filled in. */
const snippetSchema = policyFileSchema.partial();

interface Row {
  id: string;
  project: string;
  model_id: string;
  proposer: string;
  via: 'agent' | 'admin';
  yaml: string;
  justification: string;
  guardrails: Proposal['guardrails'];
  status: Proposal['status'];
  auto_approved: boolean;
  version_id: string | null;
  reviewer: string | null;
  comment: string | null;
  created_at: Date;
  resolved_at: Date | null;
}

function depthOf(v: unknown): number {
  if (!v || typeof v !== 'object') return 0;
  let max = 0;
  for (const x of Object.values(v)) max = Math.max(max, depthOf(x));
  return max + 1;
}

function toProposal(r: Row): Proposal {
  return {
    proposal_id: r.id,
    project: r.project,
    model_id: r.model_id,
    proposer: r.proposer,
    via: r.via,
    yaml: r.yaml,
    justification: r.justification,
    guardrails: r.guardrails,
    status: r.status,
    auto_approved: r.auto_approved,
    version_id: r.version_id,
    reviewer: r.reviewer,
    comment: r.comment,
    created_at: r.created_at.toISOString(),
    resolved_at: r.resolved_at?.toISOString() ?? null,
  };
}

/**
 * Policy proposals (seed 001, docs/proposals.md): a YAML snippet for the proposer's own rules,
 * read safely (size, aliases, depth, no custom tags), merged into the project's active policy,
 * checked against the guardrails; approved at once when the project allows it and every
 * guardrail passes, else queued for a reviewer. Every proposal and its outcome is a signed event.
 */
@Injectable()
export class ProposalService {
  constructor(
    @Inject(PG) private readonly pool: Pool,
    private readonly config: ConfigSync,
    private readonly publisher: VersionPublisher,
    private readonly signer: VersionSigner,
    private readonly bus: NatsBus,
  ) {}

  async propose(
    req: RequestOf<'gw.policy.propose.v1'>,
    ctx: MessageContext,
  ): Promise<ResponseOf<'gw.policy.propose.v1'>> {
    const { snippet, merged, mergedText, live } = this.candidate(req.project, req.yaml);
    const guardrails = checkGuardrails({
      proposer: req.model_id,
      snippet,
      live,
      merged,
      tools: this.config.files.tools,
    });
    const auto = live.proposals.auto_approve && guardrails.every((g) => g.pass);
    const id = randomUUID();
    await this.guard(() =>
      this.pool.query(
        `INSERT INTO policy_proposals (id, project, model_id, proposer, via, yaml, justification, guardrails, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending')`,
        [
          id,
          req.project,
          req.model_id,
          req.proposer,
          req.via,
          req.yaml,
          req.justification,
          JSON.stringify(guardrails),
        ],
      ),
    );
    if (!auto) {
      const proposal = await this.get(id);
      this.publishEvent(proposal, ctx);
      return { proposal, version: null };
    }
    const saved = await this.publisher.publish({
      project: req.project,
      kind: 'policies',
      content: mergedText,
      author: req.proposer,
      source: 'proposal',
      reason:
        `proposal ${id} (approved automatically: every guardrail passed): ${req.justification}`.slice(
          0,
          1000,
        ),
    });
    const proposal = await this.finish(
      id,
      'approved',
      null,
      'approved automatically',
      saved.version.id,
      true,
    );
    this.publishEvent(proposal, ctx);
    return { proposal, version: saved.version };
  }

  async list(
    q: RequestOf<'gw.policy.proposals.v1'>,
  ): Promise<ResponseOf<'gw.policy.proposals.v1'>> {
    const rows = await this.guard(() =>
      this.pool.query<Row>(
        `SELECT * FROM policy_proposals WHERE ($1::text IS NULL OR project = $1)
           AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC LIMIT $3`,
        [q.project ?? null, q.status ?? null, q.limit],
      ),
    );
    return { proposals: rows.rows.map(toProposal) };
  }

  async get(id: string): Promise<Proposal> {
    const rows = await this.guard(() =>
      this.pool.query<Row>('SELECT * FROM policy_proposals WHERE id = $1', [id]),
    );
    if (!rows.rows[0]) throw new GatewayError('POLICY.PROPOSAL_NOT_FOUND', `no proposal ${id}`);
    return toProposal(rows.rows[0]);
  }

  /** The proposal with the diff it would make to the project's active policy now. */
  async detail(id: string): Promise<ResponseOf<'gw.policy.proposal_get.v1'>> {
    const p = await this.get(id);
    const liveText = this.liveText(p.project);
    let diff: string;
    let merged: string | null = null;
    try {
      merged = this.candidate(p.project, p.yaml).mergedText;
      diff = createTwoFilesPatch(
        `policies/${p.project}.yaml (active)`,
        `policies/${p.project}.yaml (with proposal ${p.proposal_id})`,
        liveText,
        merged,
      );
    } catch (err) {
      diff = `the proposal no longer merges into the active policy: ${(err as Error).message}`;
    }
    return { ...p, diff, merged };
  }

  async resolve(
    req: RequestOf<'gw.policy.proposal_resolve.v1'>,
    ctx: MessageContext,
  ): Promise<Proposal> {
    const p = await this.get(req.id);
    if (p.status !== 'pending')
      throw new GatewayError(
        'POLICY.PROPOSAL_NOT_PENDING',
        `proposal ${req.id} is already ${p.status}`,
      );
    if (req.four_eyes && (req.reviewer === p.proposer || req.reviewer === p.model_id))
      throw new GatewayError(
        'APPROVAL.FOUR_EYES',
        `${req.reviewer} proposed this change and cannot also review it (four-eyes); another reviewer must`,
      );
    let proposal: Proposal;
    if (!req.approve) {
      proposal = await this.finish(
        p.proposal_id,
        'rejected',
        req.reviewer,
        req.comment,
        null,
        false,
      );
    } else {
      // Merged into the policy as it is now, which may have changed since the proposal.
      const { mergedText } = this.candidate(p.project, p.yaml);
      const saved = await this.publisher.publish({
        project: p.project,
        kind: 'policies',
        content: mergedText,
        author: p.proposer,
        source: 'proposal',
        reason: `proposal ${p.proposal_id}, approved by ${req.reviewer}: ${p.justification}`.slice(
          0,
          1000,
        ),
      });
      proposal = await this.finish(
        p.proposal_id,
        'approved',
        req.reviewer,
        req.comment,
        saved.version.id,
        false,
      );
    }
    this.publishEvent(proposal, ctx);
    return proposal;
  }

  /**
   * The snippet read safely and the policy it makes with the project's active policy: a problem
   * is POLICY.PROPOSAL_INVALID with every problem located.
   */
  private candidate(project: string, yaml: string) {
    const file = `proposal for policies/${project}.yaml`;
    const linted = lintConfigText(file, yaml, snippetSchema);
    if (!linted.ok)
      throw invalid(
        linted.problems.map((p) => ({ line: p.line, column: p.column, reason: p.reason })),
      );
    const snippet = rawSnippet(yaml);
    if (depthOf(snippet) > MAX_DEPTH)
      throw invalid([
        { line: null, column: null, reason: `nested deeper than ${MAX_DEPTH} levels` },
      ]);
    const live = this.config.files.policies.get(project);
    if (!live)
      throw new GatewayError('REQUEST.UNKNOWN_PROJECT', `project ${project} has no policy file`, {
        project,
      });
    // The snippet as written (no defaults filled in), so that what it leaves out stays as it is.
    const mergedText = mergeProposal(this.liveText(project), snippet);
    const merged = lintConfigText(
      `policies/${project}.yaml (merged)`,
      mergedText,
      policyFileSchema,
    );
    if (!merged.ok)
      throw invalid(merged.problems.map((p) => ({ line: null, column: null, reason: p.reason })));
    return { snippet, merged: merged.value as PolicyFile, mergedText, live };
  }

  /** The text of the project's active policy: the version that overrides its file, else the file. */
  private liveText(project: string): string {
    const version = this.config.activeVersion(project, 'policies');
    if (version) return version.content;
    const file = join(this.config.files.dir, 'policies', `${project}.yaml`);
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  private async finish(
    id: string,
    status: 'approved' | 'rejected',
    reviewer: string | null,
    comment: string,
    versionId: string | null,
    auto: boolean,
  ): Promise<Proposal> {
    const rows = await this.guard(() =>
      this.pool.query<Row>(
        `UPDATE policy_proposals SET status = $2, reviewer = $3, comment = $4, version_id = $5,
           auto_approved = $6, resolved_at = now() WHERE id = $1 AND status = 'pending' RETURNING *`,
        [id, status, reviewer, comment, versionId, auto],
      ),
    );
    if (!rows.rows[0])
      throw new GatewayError(
        'POLICY.PROPOSAL_NOT_PENDING',
        `proposal ${id} was resolved meanwhile`,
      );
    return toProposal(rows.rows[0]);
  }

  private publishEvent(p: Proposal, ctx: MessageContext): void {
    const signature = this.signer.signRecord(p);
    this.bus.publish(
      POLICY_PROPOSAL_EVENT,
      { ...p, key_id: signature ? this.signer.keyId : null, signature },
      { ...ctx, project: p.project },
    );
  }

  private guard<T>(run: () => Promise<T>): Promise<T> {
    return guardStore(run);
  }
}

function invalid(problems: Array<{ line: number | null; column: number | null; reason: string }>) {
  const first = problems[0]!;
  return new GatewayError(
    'POLICY.PROPOSAL_INVALID',
    `the proposal's YAML is refused: ${first.line === null ? '' : `line ${first.line}, column ${first.column}: `}${first.reason}`,
    { problems },
  );
}

/** The snippet's keys as written, no defaults filled in (read after lintConfigText accepted it). */
function rawSnippet(yaml: string): Record<string, unknown> {
  const value: unknown = parseDocument(yaml).toJS({ maxAliasCount: 100 });
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}
