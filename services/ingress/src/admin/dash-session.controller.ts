import { Controller, Delete, Get, Post, Req, Res } from '@nestjs/common';
import { GatewayError } from '@sg/contracts';
import { ConfigSync } from '@sg/messaging';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { ErrorAnswers } from '../http/error-answer.js';
import { ToolCallService } from '../toolcall/toolcall.service.js';
import { ADMIN_PERMISSIONS, AdminAuth, type AdminPrincipal, mayDo } from './admin-auth.js';
import { DashSessions } from './dash-sessions.js';

/**
 * The dashboard's session (issue 15): log in with an admin key (X-Admin-Key) or token
 * (Authorization: Bearer) and get the `sg_dash` cookie and a CSRF token; see who is logged in;
 * log out. Every admin endpoint then takes the cookie; writes also need X-CSRF-Token.
 */
@Controller('dash/api/session')
export class DashSessionController {
  constructor(
    private readonly admins: AdminAuth,
    private readonly sessions: DashSessions,
    private readonly toolCalls: ToolCallService,
    private readonly errors: ErrorAnswers,
    private readonly config: ConfigSync,
  ) {}

  @Post()
  async login(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      const principal = await this.admins.login(req);
      const { token, session } = await this.sessions.create({
        name: principal.name,
        via: principal.via,
        roles: principal.roles,
      });
      return reply
        .status(201)
        .headers({
          'set-cookie': this.sessions.cookie(token),
          'cache-control': 'no-store',
          'x-trace-id': ctx.traceId,
        })
        .send({
          ...whoIs(principal),
          projects: this.projects(),
          csrf_token: session.csrf,
          expires_at: session.expires_at,
        } satisfies DashSessionAnswer);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  @Get()
  async current(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      const found = await this.sessions.of(req.headers);
      if (!found)
        throw new GatewayError(
          'AUTH.SESSION_INVALID',
          'no dashboard session: log in with POST /dash/api/session',
        );
      return reply
        .status(200)
        .headers({ 'cache-control': 'no-store', 'x-trace-id': ctx.traceId })
        .send({
          ...whoIs(await this.admins.principalOf(req)),
          projects: this.projects(),
          csrf_token: found.session.csrf,
          expires_at: found.session.expires_at,
        } satisfies DashSessionAnswer);
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  @Delete()
  async logout(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const ctx = this.toolCalls.contextOf(req.headers);
    try {
      const ended = await this.admins.logout(req);
      if (ended) await this.sessions.end(ended.token);
      return reply
        .status(204)
        .headers({
          'set-cookie': this.sessions.cookie(null),
          'cache-control': 'no-store',
          'x-trace-id': ctx.traceId,
        })
        .send();
    } catch (err) {
      return this.errors.send(reply, err, ctx.traceId);
    }
  }

  /** The projects the gateway has files for: the dashboard's project picker. */
  private projects(): string[] {
    return [...this.config.files.projects].sort();
  }
}

/** Who is logged in, and what they may do (the dashboard shows only what the roles allow). */
/** What the dashboard's login and GET /dash/api/session answer: who, what they may do, the session. */
export const dashSessionSchema = z.object({
  name: z.string(),
  roles: z.array(z.string()),
  via: z.string(),
  permissions: z.array(z.string()),
  projects: z.array(z.string()),
  csrf_token: z.string(),
  expires_at: z.string(),
});
type DashSessionAnswer = z.infer<typeof dashSessionSchema>;

function whoIs(p: AdminPrincipal) {
  return {
    name: p.name,
    roles: p.roles,
    via: p.via,
    permissions: ADMIN_PERMISSIONS.filter((perm) => mayDo(p, perm)),
  };
}
