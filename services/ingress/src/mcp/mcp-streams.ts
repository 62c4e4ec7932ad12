import { Inject, Injectable } from '@nestjs/common';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { ConfigSync } from '@sg/messaging';
import { digestOf, LOGGER, type Logger } from '@sg/runtime';
import { McpService } from './mcp.service.js';
import type { McpSession } from './mcp-sessions.js';

interface Stream {
  session: McpSession;
  server: Server;
  /** The tool list the session saw last; a reload that changes it sends list_changed. */
  fingerprint: string;
}

/**
 * The session streams (GET /mcp) open on this instance. When a config version changes what a
 * session may see (its policy, its key, the registry), the session gets
 * `notifications/tools/list_changed`. Every instance receives the reload broadcast, so each
 * tells its own streams.
 */
@Injectable()
export class McpStreams {
  private readonly open = new Set<Stream>();

  constructor(
    config: ConfigSync,
    private readonly mcp: McpService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    // After every reloader has committed (PolicyStore's included), so the new lists are seen.
    config.register(() => () => setImmediate(() => this.refresh()));
  }

  add(session: McpSession, server: Server): () => void {
    const stream = { session, server, fingerprint: this.fingerprint(session) };
    this.open.add(stream);
    return () => this.open.delete(stream);
  }

  /** Closes this instance's streams of a session that was ended. */
  async end(sessionId: string): Promise<void> {
    const closing = [...this.open].filter((s) => s.session.id === sessionId);
    for (const s of closing) this.open.delete(s);
    await Promise.all(closing.map((s) => s.server.close().catch(() => undefined)));
  }

  get size(): number {
    return this.open.size;
  }

  /** Changes when the session's tool list does; computed for open streams only, not per tools/list. */
  private fingerprint(session: McpSession): string {
    return digestOf(this.mcp.toolsFor(session));
  }

  private refresh(): void {
    for (const s of this.open) {
      const fingerprint = this.fingerprint(s.session);
      if (fingerprint === s.fingerprint) continue;
      s.fingerprint = fingerprint;
      s.server.sendToolListChanged().catch((err: unknown) => {
        this.logger.debug(
          { mcp_session: s.session.id, err: (err as Error).message },
          'list_changed not delivered',
        );
      });
    }
  }
}
