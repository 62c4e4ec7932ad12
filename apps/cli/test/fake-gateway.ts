import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { run } from '../src/cli.js';
import type { CliEnv } from '../src/config/env.js';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

type Handler = (req: Seen, res: ServerResponse) => unknown;

/**
 * A real HTTP server standing in for the ingress: each test says how a route answers, and reads
 * back what `sg` sent. The routes are `METHOD /path` (the query string is not part of it).
 */
export class FakeGateway {
  readonly seen: Seen[] = [];
  private readonly routes = new Map<string, Handler>();
  private server: Server | undefined;
  url = '';

  on(route: string, handler: Handler): this {
    this.routes.set(route, handler);
    return this;
  }

  /** A route that answers `status` with `body` as JSON. */
  answer(route: string, status: number, body: unknown): this {
    return this.on(route, (_req, res) => json(res, status, body));
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8').on('data', (c: string) => (raw += c));
      req.on('end', () => {
        const seen: Seen = {
          method: req.method!,
          url: req.url!,
          headers: req.headers,
          body: raw ? (JSON.parse(raw) as unknown) : undefined,
        };
        this.seen.push(seen);
        const handler = this.routes.get(`${req.method} ${req.url!.split('?')[0]}`);
        if (!handler)
          return json(res, 404, {
            error: { code: 'REQUEST.NOT_FOUND', message: 'no such endpoint' },
          });
        void handler(seen, res);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** The query of the n-th request, as an object. */
  query(n: number): Record<string, string> {
    return Object.fromEntries(new URL(this.seen[n]!.url, 'http://x').searchParams);
  }
}

export function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `sg` in this process, with its output captured and the given environment. */
export async function sg(args: string[], env: Partial<CliEnv> = {}): Promise<Ran> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const code = await run(args, {
    stdout,
    stderr,
    env: () => ({
      url: undefined,
      credential: { kind: 'admin-key', header: 'x-admin-key', value: 'test-admin-key-0001' },
      ...env,
    }),
  });
  await new Promise((r) => setImmediate(r));
  return { code, stdout: out, stderr: err };
}
