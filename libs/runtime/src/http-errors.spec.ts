import { FastifyAdapter } from '@nestjs/platform-fastify';
import { connect } from 'node:net';
import { frameworkErrorOptions } from './http-errors.js';
import { createLogger } from './logger.js';

/** Sends raw bytes and reads the whole answer until the server closes or answers. */
function rawRequest(port: number, bytes: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      const [head, body = ''] = text.split('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(head!)?.[1] ?? -1);
      if (length >= 0 && Buffer.byteLength(body, 'latin1') >= length) {
        socket.destroy();
        resolve({ status: Number(head!.split(' ')[1]), body: JSON.parse(body) });
      }
    });
    socket.on('error', reject);
  });
}

describe('frameworkErrorOptions: what Fastify and Node refuse, in the gateway shape', () => {
  const adapter = new FastifyAdapter({
    logger: false,
    ...frameworkErrorOptions(createLogger('ingress', { level: 'silent', pretty: false })),
  });
  let port = 0;

  beforeAll(async () => {
    const fastify = adapter.getInstance();
    fastify.get('/items/:id', async (req) => ({ id: (req.params as { id: string }).id }));
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    port = (fastify.server.address() as { port: number }).port;
  });
  afterAll(() => adapter.getInstance().close());

  const get = (path: string, extra = '') =>
    rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}\r\n`);

  it('answers a normal request untouched', async () => {
    expect(await get('/items/abc')).toEqual({ status: 200, body: { id: 'abc' } });
  });

  it.each([
    ['a malformed percent-encoding', () => get('/items/%E0%80'), 400, 'REQUEST.INVALID_URL'],
    [
      'a path parameter over 100 characters',
      () => get(`/items/${'x'.repeat(101)}`),
      414,
      'REQUEST.URI_TOO_LONG',
    ],
    [
      'headers over 16 KiB',
      () => get('/items/abc', `X-Huge: ${'h'.repeat(20_000)}\r\n`),
      431,
      'REQUEST.HEADERS_TOO_LARGE',
    ],
    [
      'a request line that is not HTTP',
      () => rawRequest(port, 'HELLO\r\n\r\n'),
      400,
      'REQUEST.MALFORMED',
    ],
  ])('%s', async (_name, send, status, code) => {
    const answer = await send();
    expect(answer).toEqual({
      status,
      body: {
        success: false,
        error: { code, message: expect.any(String) },
        trace_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      },
    });
  });

  it('keeps the caller’s trace id on an answer Fastify gives before routing', async () => {
    const answer = await get('/items/%ZZ', 'X-Trace-Id: trace-abc-123\r\n');
    expect(answer.body).toMatchObject({ trace_id: 'trace-abc-123' });
  });
});

describe('frameworkErrorOptions: a request past its deadline', () => {
  const adapter = new FastifyAdapter({
    logger: false,
    requestTimeout: 400,
    http: { headersTimeout: 400, connectionsCheckingInterval: 100 },
    ...frameworkErrorOptions(createLogger('ingress', { level: 'silent', pretty: false })),
  });
  let port = 0;

  beforeAll(async () => {
    const fastify = adapter.getInstance();
    fastify.post('/items', async () => ({ ok: true }));
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    port = (fastify.server.address() as { port: number }).port;
  });
  afterAll(() => adapter.getInstance().close());

  it('answers 408 REQUEST.TIMEOUT to a body that never finishes', async () => {
    const answer = await rawRequest(
      port,
      'POST /items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":',
    );
    expect(answer).toMatchObject({
      status: 408,
      body: { success: false, error: { code: 'REQUEST.TIMEOUT' } },
    });
  });
});
