import { Body, Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import {
  ConfigFileError,
  FILE_KIND_SCHEMAS,
  type FileKind,
  type GatewayFiles,
  lintConfigText,
  projectsOf,
} from '@sg/config';
import {
  GatewayError,
  type LintProblem,
  lintRequestSchema,
  POLICY_HISTORY_SUBJECT,
  POLICY_VERSION_SUBJECT,
} from '@sg/contracts';
import { BusClient } from '@sg/messaging';
import { z } from 'zod';
import { ConfigSync } from '@sg/messaging';
import { parseHistoryQuery } from './audit-query.js';
import { PolicyStore } from '@sg/policy-engine';
import { parseBody } from '@sg/runtime';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorAnswers } from '../http/error-answer.js';
import { ToolCallService } from '../toolcall/toolcall.service.js';
import { AdminAuth } from './admin-auth.js';

const FILES_FIELD: Record<FileKind, 'policies' | 'contextual' | 'modelKeys'> = {
  policies: 'policies',
  contextual_policies: 'contextual',
  model_keys: 'modelKeys',
};

/**
 * Checks a project's policy, contextual-policy or model_keys YAML as the gateway would load it:
 * the YAML (duplicate keys, custom tags, alias bombs), the file's schema, then the compiled
 * policy with the other files of the active config (globs, schemas, time zones). Every problem
 * with its line and column; nothing is saved.
 */
export function lintPolicyFile(
  active: GatewayFiles,
  project: string,
  kind: FileKind,
  yaml: string,
): LintProblem[] {
  const file = `${kind}/${project}.yaml`;
  const toProblem = (e: ConfigFileError): LintProblem => ({
    file,
    line: e.line,
    column: e.column,
    reason: e.reason,
  });
  const linted = lintConfigText(file, yaml, FILE_KIND_SCHEMAS[kind]);
  if (!linted.ok) return linted.problems.map(toProblem);
  const field = FILES_FIELD[kind];
  const candidate = {
    ...active,
    [field]: new Map<string, unknown>(active[field]).set(project, linted.value),
  } as GatewayFiles;
  try {
    PolicyStore.compile({ ...candidate, projects: projectsOf(candidate) });
  } catch (err) {
    if (err instanceof ConfigFileError) return [toProblem(err)];
    return [{ file, line: null, column: null, reason: (err as Error).message }];
  }
  return [];
}

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
      const a = this.errors.answer(err, ctx.traceId);
      return reply.status(a.status).headers(a.headers).send(a.body);
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
      const a = this.errors.answer(err, ctx.traceId);
      return reply.status(a.status).headers(a.headers).send(a.body);
    }
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
      const a = this.errors.answer(err, ctx.traceId);
      return reply.status(a.status).headers(a.headers).send(a.body);
    }
  }
}
