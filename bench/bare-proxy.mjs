// The "bare proxy" baseline of bench/gateway.mjs: the least a Node HTTP hop in front of the tool
// can cost. node:http in, undici out (a keep-alive Pool with the executor's settings), the body
// and the answer passed through untouched: no authentication, policy, events or audit. The
// gateway's throughput divided by this one's is what its governance costs compared with any
// proxy written in Node, rather than compared with no hop at all (the upstream direct).
//
// Started by bench/gateway.mjs as its own process, so its CPU time can be read from /proc.
// BARE_PROXY_PORT: where to listen (127.0.0.1); BARE_PROXY_UPSTREAM: the origin to forward to.
// GET /health answers 200 once it listens; every POST is forwarded to the same path upstream.
import { createServer } from 'node:http';
import { Pool } from 'undici';

const port = Number(process.env.BARE_PROXY_PORT);
const upstream = process.env.BARE_PROXY_UPSTREAM;
if (!Number.isInteger(port) || port < 1 || !upstream) {
  console.error(
    'bare-proxy: set BARE_PROXY_PORT and BARE_PROXY_UPSTREAM (e.g. http://127.0.0.1:9000)',
  );
  process.exit(2);
}

// The executor's undici Agent uses these (services/executor/src/execution/http-upstream.ts), so
// both hops open and reuse upstream connections the same way.
const pool = new Pool(upstream, { connections: 128, keepAliveTimeout: 10_000 });

function send(res, status, text) {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') return send(res, 200, '{"status":"ok"}');
  if (req.method !== 'POST') return send(res, 405, '{"error":"POST only"}');
  // Read the whole body first, as the gateway does, so neither side streams where the other buffers.
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', async () => {
    try {
      const answer = await pool.request({
        method: 'POST',
        path: req.url,
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        body: Buffer.concat(chunks),
      });
      const body = Buffer.from(await answer.body.arrayBuffer());
      res.writeHead(answer.statusCode, {
        'content-type': answer.headers['content-type'] ?? 'application/json',
        'content-length': body.length,
      });
      res.end(body);
    } catch (err) {
      // A 502 shows up as non-2xx in the benchmark, which fails the run: the baseline must be clean.
      if (!res.headersSent) send(res, 502, JSON.stringify({ error: err.code ?? err.message }));
      else res.destroy();
    }
  });
});

// As the example upstream: autocannon's connections stay open between warm-up and measurement.
server.keepAliveTimeout = 30_000;
server.listen(port, '127.0.0.1', () =>
  console.log(`bare proxy on 127.0.0.1:${port} -> ${upstream}`),
);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => pool.close().finally(() => process.exit(0)));
  });
}
