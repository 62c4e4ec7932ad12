import { createServer, type IncomingMessage, type Server } from 'node:http';

export interface RecordedCall {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface TestUpstream {
  url: string;
  port: number;
  calls: RecordedCall[];
  close(): Promise<void>;
}

/**
 * A real HTTP tool server for tests. POST /tools/<name> answers {tool, echo: body};
 * /slow/<ms> waits before answering; /status/<code> answers that status.
 */
export async function startUpstream(): Promise<TestUpstream> {
  const calls: RecordedCall[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      let body: unknown = raw;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        /* keep the text */
      }
      calls.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      const url = req.url ?? '';
      const slow = /^\/slow\/(\d+)/.exec(url);
      if (slow) return void setTimeout(() => send(200, { slow: true }), Number(slow[1]));
      const status = /^\/status\/(\d{3})/.exec(url);
      if (status) return send(Number(status[1]), { error: 'as asked' });
      const tool = /^\/tools\/([\w.-]+)/.exec(url);
      if (tool) return send(200, { tool: tool[1], echo: body });
      send(404, { error: 'no such route' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
