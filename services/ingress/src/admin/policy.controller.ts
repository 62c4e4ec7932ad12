import { Body, Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import type { FileKind, GatewayFiles } from '@sg/config';
import {
  GatewayError,
  type LintProblem,
  lintRequestSchema,
  POLICY_HISTORY_SUBJECT,
  POLICY_ROLLBACK_SUBJECT,
  POLICY_SAVE_SUBJECT,
  POLICY_SIGNING_KEY_SUBJECT,
  POLICY_VERSION_SUBJECT,
} from '@sg/contracts';
import { BusClient } from '@sg/messaging';
import { z } from 'zod';
import { ConfigSync } from '@sg/messaging';
import { parseHistoryQuery } from './audit-query.js';
import { compileCandidate } from '@sg/policy-engine';
import { parseBody } from '@sg/runtime';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorAnswers } from '../http/error-answer.js';
import { ToolCallService } from '../toolcall/toolcall.service.js';
import { AdminAuth } from './admin-auth.js';

/** The problems of a project's file, checked as the gateway would load it (`compileCandidate`). */
export function lintPolicyFile(
  active: GatewayFiles,
  project: string,
  kind: FileKind,
  yaml: string,
): LintProblem[] {
  return compileCandidate(active, project, kind, yaml).problems;
}

export const saveRequestSchema = lintRequestSchema.extend({
  reason: z.string().min(1, 'say why').max(1000),
});
export const rollbackBodySchema = z.strictObject({ reason: z.string().max(1000).optional() });

/** A version id is a UUID of the history, and nothing else (never a path or a file name). */
export function versionIdOf(raw: string): string {
  if (!z.uuid().safeParse(raw).success)
    throw new GatewayError(
      'POLICY.INVALID_VERSION_ID',
      `"${raw.slice(0, 64)}" is not a version id; use an id from GET /api/policy/history`,
    );
  return raw.toLowerCase();
}

/** The policy endpoints of the admin API (docs/admins.md, docs/policy.md). */
@Controller('api/policy')
export class PolicyController {
  constructor(
    private readonly config: ConfigSync,
    private readonly toolCalls: ToolCallService,
    private readonly errors: ErrorAnswers,
    private readonly admins: AdminAuth,
    private readonly client: BusClient,
  ) {}

  /** GET /api/policy/history?project=&kind=&cursor=&limit=: the versions, newest first (policy.read). */
  @Get('history')
  async history(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      await this.admins.require(req, 'policy.read');
      const q = req.url.indexOf('?');
      const query = parseHistoryQuery(new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1)));
      const page = await this.client.request(POLICY_HISTORY_SUBJECT, query, ctx);
      return reply
        .status(200)
        .headers({ 'x-trace-id': ctx.traceId, 'cache-control': 'no-store' })
        .send(page);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  /**
   * GET /api/policy/signing-key: the public key the versions are signed with (policy.read), to
   * check their signatures without trusting the gateway (sg policy verify --public-key).
   */
  @Get('signing-key')
  async signingKey(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      await this.admins.require(req, 'policy.read');
      const key = await this.client.request(POLICY_SIGNING_KEY_SUBJECT, {}, ctx);
      return reply
        .status(200)
        .headers({ 'x-trace-id': ctx.traceId, 'cache-control': 'no-store' })
        .send(key);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  /** GET /api/policy/versions/:id: the content and a unified diff against the parent (policy.read). */
  @Get('versions/:id')
  async version(@Param('id') id: string, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      await this.admins.require(req, 'policy.read');
      const versionId = versionIdOf(id);
      const version = await this.client.request(POLICY_VERSION_SUBJECT, { id: versionId }, ctx);
      return reply
        .status(200)
        .headers({ 'x-trace-id': ctx.traceId, 'cache-control': 'no-store' })
        .send(version);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  /**
   * POST /api/policy: `{project, kind, yaml, reason}` saved as a new signed version, active on
   * every instance (policy.write). Linted first: any problem is a 422 POLICY.LINT_FAILED with
   * the problems, and nothing changes.
   */
  @Post()
  async save(@Body() body: unknown, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      const principal = await this.admins.require(req, 'policy.write');
      const { project, kind, yaml, reason } = parseBody(
        saveRequestSchema,
        body,
        'send {"project", "kind": "policies" | "contextual_policies" | "model_keys", "yaml", "reason"}',
      );
      if (!this.config.files.projects.has(project))
        throw new GatewayError(
          'REQUEST.UNKNOWN_PROJECT',
          `project ${project} has no file in the config directory; a project starts with its file`,
          { project },
        );
      const problems = lintPolicyFile(this.config.files, project, kind, yaml);
      if (problems.length)
        throw new GatewayError(
          'POLICY.LINT_FAILED',
          `${problems.length} problem${problems.length === 1 ? '' : 's'} in ${kind}/${project}.yaml (first: ${problems[0]!.line === null ? '' : `line ${problems[0]!.line}: `}${problems[0]!.reason}); nothing was saved`,
          { problems },
        );
      const saved = await this.client.request(
        POLICY_SAVE_SUBJECT,
        { project, kind, content: yaml, author: principal.name, reason },
        ctx,
      );
      return this.answerSaved(reply, saved, ctx.traceId, 'policy version saved');
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  /**
   * POST /api/policy/rollback/:version (seed 002's route): that version of the request's project
   * (X-Project-ID) made active again, as a new version (policy.write). `:version` is an id from
   * the history, never a path.
   */
  @Post('rollback/:version')
  async rollback(
    @Param('version') version: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      const principal = await this.admins.require(req, 'policy.write');
      const id = versionIdOf(version);
      if (ctx.projectError) throw ctx.projectError;
      const { reason } = parseBody(
        rollbackBodySchema,
        body ?? {},
        'send {"reason": "..."} or no body',
      );
      const saved = await this.client.request(
        POLICY_ROLLBACK_SUBJECT,
        { id, project: ctx.project, author: principal.name, reason: reason ?? '' },
        ctx,
      );
      return this.answerSaved(reply, saved, ctx.traceId, 'policy version rolled back');
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  /**
   * A saved version's answer: 201 when it is new (active on this instance before the answer;
   * the others follow the announcement), 200 when the content was active already.
   */
  private async answerSaved(
    reply: FastifyReply,
    saved: { created: boolean },
    traceId: string,
    why: string,
  ) {
    if (saved.created) await this.config.refreshVersions(why);
    return reply
      .status(saved.created ? 201 : 200)
      .header('x-trace-id', traceId)
      .send(saved);
  }

  /** POST /api/policy/lint: `{project, kind, yaml}` → `{ok, problems}` (policy.write). */
  @Post('lint')
  @HttpCode(200)
  async lint(@Body() body: unknown, @Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      await this.admins.require(req, 'policy.write');
      const { project, kind, yaml } = parseBody(
        lintRequestSchema,
        body,
        'send {"project", "kind": "policies" | "contextual_policies" | "model_keys", "yaml"}',
      );
      const problems = lintPolicyFile(this.config.files, project, kind, yaml);
      return reply
        .status(200)
        .header('x-trace-id', ctx.traceId)
        .send({ ok: problems.length === 0, problems });
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }
}
