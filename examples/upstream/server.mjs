// A small tool server standing in for real upstreams: each tool is POST /tools/<name>
// with the arguments as a JSON body. No dependencies, so it runs anywhere Node does.
import { createServer } from 'node:http';

const port = Number(process.env.UPSTREAM_PORT ?? 9000);
const host = process.env.UPSTREAM_HOST ?? '127.0.0.1';

const EVENTS = [
  { id: 'evt-1', title: 'Design review', date: '2026-11-23', start: '10:00', end: '11:00' },
  { id: 'evt-2', title: 'Security sync', date: '2026-11-24', start: '14:00', end: '14:30' },
  { id: 'evt-3', title: 'Quarterly planning', date: '2026-12-01', start: '09:00', end: '12:00' },
];
const written = [];

const tools = {
  'calendar.list_events': (args) => {
    const events = EVENTS.filter(
      (e) => (!args.from || e.date >= args.from) && (!args.to || e.date <= args.to),
    );
    return {
      calendar_id: args.calendar_id ?? 'primary',
      events: events.slice(0, args.limit ?? 50),
    };
  },
  'db.write_sensitive': (args) => {
    written.push(args);
    return { written: true, id: written.length };
  },
};

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const server = createServer((req, res) => {
  const match = /^\/tools\/([\w.-]+)$/.exec(req.url ?? '');
  if (req.method === 'GET' && req.url === '/health') return send(res, 200, { status: 'ok' });
  if (req.method !== 'POST' || !match || !tools[match[1]])
    return send(res, 404, { error: 'no such tool' });
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    let args;
    try {
      args = body ? JSON.parse(body) : {};
    } catch {
      return send(res, 400, { error: 'invalid JSON' });
    }
    send(res, 200, tools[match[1]](args));
  });
});

server.keepAliveTimeout = 30_000;
server.listen(port, host, () =>
  console.log(`example upstream listening on http://${host}:${port}`),
);
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => server.close(() => process.exit(0)));
