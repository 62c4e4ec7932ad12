import { GatewayError } from '@sg/contracts';
import {
  checkAccept,
  checkOrigin,
  checkProtocolVersion,
  invalidParams,
  sessionIdOf,
} from './mcp-http.js';
import { errorResult, successResult } from './mcp-results.js';

function code(run: () => unknown): string | null {
  try {
    run();
    return null;
  } catch (err) {
    return (err as GatewayError).code;
  }
}

describe('checkOrigin', () => {
  const loopback = { host: '127.0.0.1', allowedOrigins: new Set(['https://app.example.com']) };
  const open = { host: '0.0.0.0', allowedOrigins: new Set(['https://app.example.com']) };

  it.each([
    [loopback, { host: '127.0.0.1:8080' }, null],
    [loopback, { host: 'localhost:8080', origin: 'http://localhost:5173' }, null],
    [loopback, { host: '[::1]:8080', origin: 'http://[::1]:3000' }, null],
    [loopback, { host: '127.0.0.1:8080', origin: 'https://app.example.com' }, null],
    [loopback, { host: 'evil.example:8080' }, 'MCP.ORIGIN_FORBIDDEN'],
    [loopback, {}, 'MCP.ORIGIN_FORBIDDEN'],
    [loopback, { host: '127.0.0.1:8080', origin: 'https://evil.example' }, 'MCP.ORIGIN_FORBIDDEN'],
    [loopback, { host: '127.0.0.1:8080', origin: 'null' }, 'MCP.ORIGIN_FORBIDDEN'],
    [open, { host: 'gw.example.com' }, null],
    [open, { host: 'gw.example.com', origin: 'https://app.example.com' }, null],
    // Off a loopback bind, a loopback origin is a page on the user's machine, not the gateway's.
    [open, { host: 'gw.example.com', origin: 'http://localhost:3000' }, 'MCP.ORIGIN_FORBIDDEN'],
  ])('%j %j → %s', (bind, headers, expected) => {
    expect(code(() => checkOrigin(headers, bind))).toBe(expected);
  });
});

it('accepts the protocol versions of /mcp, or none', () => {
  expect(checkProtocolVersion({})).toBeUndefined();
  expect(checkProtocolVersion({ 'mcp-protocol-version': '2025-06-18' })).toBe('2025-06-18');
  expect(checkProtocolVersion({ 'mcp-protocol-version': '2025-03-26' })).toBe('2025-03-26');
  expect(code(() => checkProtocolVersion({ 'mcp-protocol-version': '2024-11-05' }))).toBe(
    'MCP.UNSUPPORTED_PROTOCOL_VERSION',
  );
});

it('wants JSON and an event stream on POST, the stream on GET', () => {
  expect(code(() => checkAccept({ accept: 'application/json, text/event-stream' }, 'POST'))).toBe(
    null,
  );
  expect(code(() => checkAccept({ accept: 'application/json' }, 'POST'))).toBe(
    'MCP.NOT_ACCEPTABLE',
  );
  expect(code(() => checkAccept({ accept: 'text/event-stream' }, 'GET'))).toBe(null);
  expect(code(() => checkAccept({}, 'GET'))).toBe('MCP.NOT_ACCEPTABLE');
});

it('reads a session id of visible ASCII only', () => {
  expect(sessionIdOf({ 'mcp-session-id': 'abc-123' })).toBe('abc-123');
  expect(code(() => sessionIdOf({}))).toBe('MCP.SESSION_REQUIRED');
  expect(code(() => sessionIdOf({ 'mcp-session-id': 'a b' }))).toBe('MCP.SESSION_NOT_FOUND');
  expect(code(() => sessionIdOf({ 'mcp-session-id': 'é' }))).toBe('MCP.SESSION_NOT_FOUND');
});

describe('results', () => {
  const body = { trace_id: 't-1', audit_id: 'a-1', risk_score: 0.2 };

  it('gives an object result as text and as structuredContent, and passes MCP content on', () => {
    expect(successResult({ n: 1 }, body)).toEqual({
      content: [{ type: 'text', text: '{"n":1}' }],
      structuredContent: { n: 1 },
      _meta: {
        'securegateway/trace_id': 't-1',
        'securegateway/audit_id': 'a-1',
        'securegateway/risk_score': 0.2,
      },
    });
    expect(successResult('plain', body).content).toEqual([{ type: 'text', text: 'plain' }]);
    const image = [{ type: 'image', data: 'AAAA', mimeType: 'image/png' }];
    expect(successResult(image, body).content).toEqual(image);
    expect(successResult([1, 2], body).structuredContent).toBeUndefined();
  });

  it('says the code, the reason, each suggestion and the trace id of a refusal', () => {
    const r = errorResult({
      ...body,
      error: { code: 'POLICY.RATE_LIMITED', message: 'Agent a exceeded 5 calls in 60 s.' },
      decision: { allowed: false, suggestions: ['Retry after 3 s.'] },
    });
    expect(r.isError).toBe(true);
    expect((r.content[0] as { text: string }).text).toBe(
      'SecureGateway refused the call (POLICY.RATE_LIMITED): Agent a exceeded 5 calls in 60 s.\nSuggestions:\n- Retry after 3 s.\ntrace_id: t-1',
    );
    expect(r.structuredContent).toMatchObject({ error: { code: 'POLICY.RATE_LIMITED' } });
  });

  it('says the tool failed, not that the gateway refused, when the run failed', () => {
    const r = errorResult({
      ...body,
      error: { code: 'EXECUTOR.UPSTREAM_TIMEOUT', message: 'no answer within 5000 ms' },
    });
    expect((r.content[0] as { text: string }).text).toMatch(/^The tool call failed \(EXECUTOR/);
  });
});

describe('invalidParams', () => {
  const request = (method: string, params?: unknown, id: unknown = 7) => ({
    jsonrpc: '2.0',
    id,
    method,
    ...(params === undefined ? {} : { params }),
  });

  it('answers -32602 naming the field, where the SDK would answer an internal error', () => {
    expect(
      invalidParams(
        request('initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: 'x' }),
      ),
    ).toEqual({
      jsonrpc: '2.0',
      id: 7,
      error: {
        code: -32602,
        message: expect.stringMatching(/^invalid params for initialize: params\.clientInfo: /),
      },
    });
    expect(invalidParams(request('tools/call', { arguments: {} }, 'a'))).toMatchObject({
      id: 'a',
      error: { code: -32602, message: expect.stringContaining('params.name') },
    });
    expect(invalidParams(request('ping', 'not an object'))?.error.code).toBe(-32602);
  });

  it('leaves the rest to the SDK: well-formed requests, notifications, unknown methods, odd ids', () => {
    expect(invalidParams(request('ping'))).toBeNull();
    expect(
      invalidParams(request('tools/call', { name: 'calendar.list_events', arguments: {} })),
    ).toBeNull();
    expect(invalidParams({ jsonrpc: '2.0', method: 'notifications/initialized' })).toBeNull();
    expect(invalidParams(request('no/such_method', 5))).toBeNull();
    expect(invalidParams(request('tools/call', 5, null))).toBeNull();
    expect(invalidParams(request('tools/call', 5, { an: 'object' }))).toBeNull();
  });
});
