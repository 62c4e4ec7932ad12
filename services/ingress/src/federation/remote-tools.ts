import { Inject, Injectable } from '@nestjs/common';
import { type Catalogue, FEDERATION_CATALOGUE_SUBJECT, GatewayError } from '@sg/contracts';
import { BusClient, ConfigSync, type MessageContext, UndeliveredError } from '@sg/messaging';
import { compileCatalogue, type RegisteredTool } from '@sg/policy-engine';
import { ENV, LOGGER, type Logger } from '@sg/runtime';
import type { IngressEnv } from '../config/env.js';

interface Cached {
  at: number;
  tools: Map<string, RegisteredTool>;
}

/** How long a catalogue request may take (the peer's own timeout bounds the fetch behind it). */
const CATALOGUE_WAIT_MS = 10_000;

/**
 * Peers' tools as this gateway names them (`<peer>/<tool>`): each peer's catalogue for a project,
 * fetched by the federation service (signed `GET /federation/tools`), compiled once and kept for
 * REMOTE_CATALOGUE_TTL_MS. A catalogue that cannot be fetched is not cached: a call to that
 * peer's tools fails closed with the reason, and listings leave the peer out.
 */
@Injectable()
export class RemoteTools {
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<Cached>>();

  constructor(
    private readonly client: BusClient,
    private readonly config: ConfigSync,
    @Inject(ENV) private readonly env: IngressEnv,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** The peers this gateway may forward to (trusted_peers.yaml), none with federation off. */
  peers(): string[] {
    return Object.keys(this.config.files.peers?.peers ?? {});
  }

  /** The timeout of calls to a peer, as trusted_peers.yaml sets it. */
  timeoutMs(peer: string): number {
    return this.config.files.peers?.peers[peer]?.timeout_ms ?? 5000;
  }

  /**
   * The peer's tool a call names, ready for the decision: FEDERATION.UNKNOWN_TARGET for a peer
   * that is not in trusted_peers.yaml, FEDERATION.TOOL_NOT_OFFERED for a tool its catalogue
   * lacks, and the fetch's own error (the peer down, slow, refusing) when there is no catalogue.
   */
  async get(
    project: string,
    peer: string,
    tool: string,
    ctx: MessageContext,
  ): Promise<RegisteredTool> {
    if (!this.peers().includes(peer))
      throw new GatewayError(
        'FEDERATION.UNKNOWN_TARGET',
        `no trusted peer ${peer} here; forward_to names a peer of trusted_peers.yaml`,
      );
    const found = (await this.catalogue(project, peer, ctx)).tools.get(`${peer}/${tool}`);
    if (!found)
      throw new GatewayError(
        'FEDERATION.TOOL_NOT_OFFERED',
        `peer ${peer} does not offer ${tool} to this gateway in project ${project} (its catalogue, GET /federation/tools)`,
        { peer },
      );
    return found;
  }

  /** Every peer's tools for a project; a peer whose catalogue cannot be fetched is left out (logged). */
  async list(project: string, ctx: MessageContext): Promise<Array<[string, RegisteredTool]>> {
    const all = await Promise.all(
      this.peers().map((peer) =>
        this.catalogue(project, peer, ctx).then(
          (c) => [...c.tools],
          (err: Error) => {
            this.logger.warn(
              { peer, project, err: err.message },
              "a peer's tools are not listed: its catalogue cannot be fetched",
            );
            return [];
          },
        ),
      ),
    );
    return all.flat();
  }

  private catalogue(project: string, peer: string, ctx: MessageContext): Promise<Cached> {
    const key = `${this.config.files.version}\u0000${project}\u0000${peer}`;
    const hit = this.cache.get(key);
    if (hit && performance.now() - hit.at < this.env.REMOTE_CATALOGUE_TTL_MS)
      return Promise.resolve(hit);
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetch(project, peer, ctx)
        .then((c) => {
          // One entry per peer and project: an older config version's entry goes.
          for (const k of this.cache.keys())
            if (k.endsWith(`\u0000${project}\u0000${peer}`)) this.cache.delete(k);
          this.cache.set(key, c);
          return c;
        })
        .finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private async fetch(project: string, peer: string, ctx: MessageContext): Promise<Cached> {
    let catalogue: Catalogue;
    try {
      catalogue = await this.client.request(
        FEDERATION_CATALOGUE_SUBJECT,
        { peer, project },
        { ...ctx, project },
        Math.max(CATALOGUE_WAIT_MS, this.timeoutMs(peer) * 2 + 1000),
      );
    } catch (err) {
      if (err instanceof UndeliveredError)
        throw new GatewayError(
          'FEDERATION.PEER_UNAVAILABLE',
          `the federation service is not running, so peer ${peer} cannot be reached; nothing was sent`,
          { peer },
        );
      throw err;
    }
    const { tools, refused } = compileCatalogue(peer, catalogue.tools);
    if (refused.length)
      this.logger.warn(
        { peer, project, tools: refused.slice(0, 10) },
        'peer tools left out: their input_schema does not compile here',
      );
    return { at: performance.now(), tools };
  }
}
