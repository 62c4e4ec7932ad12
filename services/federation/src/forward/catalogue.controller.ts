import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import type { ToolFile } from '@sg/config';
import {
  type CatalogueTool,
  catalogueQuerySchema,
  catalogueSchema,
  GatewayError,
} from '@sg/contracts';
import { ConfigSync, type MessageContext } from '@sg/messaging';
import { LOGGER, type Logger } from '@sg/runtime';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PeerClient } from '../outbound/peer-client.js';
import { Inbound } from './inbound.js';
import { type Peer, Peers } from './peers.js';

/**
 * What a peer may ask besides calls, signed like them: `GET /federation/tools?project=` (the
 * tools this gateway lets it call, with their schemas, so it can list them and check arguments
 * before it forwards) and `GET /federation/ping` (its health probe).
 *
 * The catalogue also holds the tools of this gateway's own peers that the asking peer's
 * allow.tools names as `<peer>/<tool>` (e.g. `gw-c/*`), one level deep: those are fetched with
 * `transit=0`, which answers this gateway's own tools only.
 */
@Controller('federation')
export class CatalogueController {
  constructor(
    private readonly peers: Peers,
    private readonly inbound: Inbound,
    private readonly config: ConfigSync,
    private readonly client: PeerClient,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @Get('tools')
  async tools(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const started = performance.now();
    const ctx = this.inbound.contextOf(req);
    let peer: Peer | null = null;
    try {
      peer = await this.inbound.authenticate(req);
      const query = catalogueQuerySchema.safeParse(req.query);
      if (!query.success)
        throw new GatewayError(
          'REQUEST.INVALID_PROJECT',
          'project must be a project id (1-63 lower-case letters, digits, _ or -), given once',
        );
      const name = query.data.project ?? 'default';
      const transit = query.data.transit;
      if (!peer.projects.has(name))
        throw new GatewayError(
          'FEDERATION.NOT_ALLOWED',
          `peer ${peer.id} may not call into project ${name} here (trusted_peers.yaml allow.projects)`,
        );
      const tools: CatalogueTool[] = [];
      for (const [toolName, tool] of this.config.files.tools) {
        // A tool governed in its own server (the SDK) is never run by this gateway.
        if (tool.upstream.type === 'sdk' || peer.tools.firstMatch(toolName) < 0) continue;
        tools.push(catalogueEntry(tool));
      }
      if (transit !== '0') tools.push(...(await this.onward(peer, name, ctx)));
      tools.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return reply
        .header('x-trace-id', ctx.traceId)
        .send({ gateway: this.peers.self, project: name, tools });
    } catch (err) {
      return this.inbound.refuse(err, ctx, started, { peer, authenticated: peer !== null }, reply);
    }
  }

  @Get('ping')
  async ping(@Req() req: FastifyRequest, @Res() reply: FastifyReply) {
    const started = performance.now();
    const ctx = this.inbound.contextOf(req);
    let peer: Peer | null = null;
    try {
      peer = await this.inbound.authenticate(req);
      return reply
        .header('x-trace-id', ctx.traceId)
        .send({ gateway: this.peers.self, peer: peer.id, time: new Date().toISOString() });
    } catch (err) {
      return this.inbound.refuse(err, ctx, started, { peer, authenticated: peer !== null }, reply);
    }
  }

  /** The tools of this gateway's peers that `asking` may call through it (its allow.tools names them). */
  private async onward(
    asking: Peer,
    project: string,
    ctx: MessageContext,
  ): Promise<CatalogueTool[]> {
    const via = this.peers
      .list()
      .filter((p) => asking.config.allow.tools.some((glob) => glob.startsWith(`${p.id}/`)));
    const lists = await Promise.all(
      via.map(async (p) => {
        try {
          const answer = await this.client.send(
            p,
            {
              method: 'GET',
              path: `federation/tools?project=${encodeURIComponent(project)}&transit=0`,
            },
            ctx,
            { idempotent: true },
          );
          const c = catalogueSchema.safeParse(answer.body);
          if (answer.status !== 200 || !c.success || c.data.gateway !== p.id)
            throw new Error(`HTTP ${answer.status}, not a catalogue of ${p.id}`);
          return c.data.tools
            .map((t) => ({ ...t, name: `${p.id}/${t.name}` }))
            .filter((t) => asking.tools.firstMatch(t.name) >= 0);
        } catch (err) {
          this.logger.warn(
            { peer: p.id, for: asking.id, err: (err as Error).message },
            "a peer's tools are left out of a catalogue: its own catalogue cannot be fetched",
          );
          return [];
        }
      }),
    );
    return lists.flat();
  }
}

/** A registry entry as a peer sees it: what it needs to list and check a call, nothing of the upstream. */
function catalogueEntry(t: ToolFile): CatalogueTool {
  return {
    name: t.name,
    description: t.description,
    input_schema: t.input_schema,
    requires_approval: t.requires_approval,
    pii: t.pii,
    writes: t.writes,
    idempotent: t.idempotent,
    ...(t.tenant_field ? { tenant_field: t.tenant_field } : {}),
  };
}
