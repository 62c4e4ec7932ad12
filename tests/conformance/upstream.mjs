// The MCP server the conformance suite's server scenarios expect (@modelcontextprotocol/conformance:
// its tools, resources and prompts, as its reference "everything" server behaves), written with
// the official SDK. The e2e test tests/e2e/test/conformance.test.ts runs the suite against it
// directly and through the gateway, which reaches it as an `mcp` upstream. Plain Node, no build:
//
//   node tests/conformance/upstream.mjs [--port N]
//
// The port is --port, else CONFORMANCE_UPSTREAM_PORT, else 0 (any free port). Once listening it
// prints `conformance upstream on http://127.0.0.1:<port>/mcp` on stdout.
//
// Stateful Streamable HTTP: initialize opens a session (its own McpServer and transport), with
// an event store so a stream the server closes can be resumed with Last-Event-ID (SEP-1699).
// Requests whose Host or Origin is not a loopback name are refused with 403 (DNS rebinding).
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CreateMessageResultSchema,
  ElicitResultSchema,
  ListToolsRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const HOST = '127.0.0.1';
const { values: opts } = parseArgs({ options: { port: { type: 'string' } } });
const port = Number(opts.port ?? process.env.CONFORMANCE_UPSTREAM_PORT ?? 0);

/** A 1x1 red PNG and a minimal WAV, as the scenarios' reference server sends them. */
const PNG =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';

/**
 * What `json-schema-2020-12` (SEP-1613) wants listed verbatim: `$schema`, `$defs` and
 * `additionalProperties`, which a zod schema converted by the SDK would not keep.
 */
const SCHEMA_2020_12 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: {
      type: 'object',
      properties: { street: { type: 'string' }, city: { type: 'string' } },
    },
  },
  properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
  additionalProperties: false,
};

const text = (t) => ({ content: [{ type: 'text', text: t }] });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The elicitation forms of SEP-1034 (a default for every primitive type) and SEP-1330 (enums). */
const DEFAULTS_FORM = {
  message: 'Please review and update the form fields with defaults',
  requestedSchema: {
    type: 'object',
    properties: {
      name: { type: 'string', description: 'User name', default: 'John Doe' },
      age: { type: 'integer', description: 'User age', default: 30 },
      score: { type: 'number', description: 'User score', default: 95.5 },
      status: {
        type: 'string',
        description: 'User status',
        enum: ['active', 'inactive', 'pending'],
        default: 'active',
      },
      verified: { type: 'boolean', description: 'Verification status', default: true },
    },
    required: [],
  },
};
const ENUMS_FORM = {
  message: 'Please select options from the enum fields',
  requestedSchema: {
    type: 'object',
    properties: {
      untitledSingle: {
        type: 'string',
        description: 'Select one option',
        enum: ['option1', 'option2', 'option3'],
      },
      titledSingle: {
        type: 'string',
        description: 'Select one option with titles',
        oneOf: [
          { const: 'value1', title: 'First Option' },
          { const: 'value2', title: 'Second Option' },
          { const: 'value3', title: 'Third Option' },
        ],
      },
      legacyEnum: {
        type: 'string',
        description: 'Select one option (legacy)',
        enum: ['opt1', 'opt2', 'opt3'],
        enumNames: ['Option One', 'Option Two', 'Option Three'],
      },
      untitledMulti: {
        type: 'array',
        description: 'Select multiple options',
        minItems: 1,
        maxItems: 3,
        items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
      },
      titledMulti: {
        type: 'array',
        description: 'Select multiple options with titles',
        minItems: 1,
        maxItems: 3,
        items: {
          anyOf: [
            { const: 'value1', title: 'First Choice' },
            { const: 'value2', title: 'Second Choice' },
            { const: 'value3', title: 'Third Choice' },
          ],
        },
      },
    },
    required: [],
  },
};

/** Asks the client for input over the call's own stream; a client that cannot answer is told so in the result. */
async function elicit(extra, params, label) {
  try {
    const r = await extra.sendRequest({ method: 'elicitation/create', params }, ElicitResultSchema);
    return text(`${label}: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
  } catch (err) {
    return text(`Elicitation not supported or error: ${err.message}`);
  }
}

/** The server of one session. */
function buildServer() {
  const server = new McpServer(
    { name: 'securegateway-conformance-upstream', version: '0.1.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
      },
    },
  );

  /** Tools as tools/list shows them: the SDK's zod conversion, or a schema given verbatim. */
  const listed = [];
  const tool = (name, description, shape, run, listedSchema) => {
    server.registerTool(name, { description, inputSchema: shape }, run);
    listed.push({
      name,
      description,
      inputSchema:
        listedSchema ?? z.toJSONSchema(z.object(shape), { target: 'draft-7', io: 'input' }),
    });
  };

  tool('test_simple_text', 'Tests simple text content response', {}, async () =>
    text('This is a simple text response for testing.'),
  );
  tool('test_image_content', 'Tests image content response', {}, async () => ({
    content: [{ type: 'image', data: PNG, mimeType: 'image/png' }],
  }));
  tool('test_audio_content', 'Tests audio content response', {}, async () => ({
    content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }],
  }));
  tool('test_embedded_resource', 'Tests embedded resource content response', {}, async () => ({
    content: [
      {
        type: 'resource',
        resource: {
          uri: 'test://embedded-resource',
          mimeType: 'text/plain',
          text: 'This is an embedded resource content.',
        },
      },
    ],
  }));
  tool(
    'test_multiple_content_types',
    'Tests response with multiple content types (text, image, resource)',
    {},
    async () => ({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG, mimeType: 'image/png' },
        {
          type: 'resource',
          resource: {
            uri: 'test://mixed-content-resource',
            mimeType: 'application/json',
            text: JSON.stringify({ test: 'data', value: 123 }),
          },
        },
      ],
    }),
  );
  tool(
    'test_tool_with_logging',
    'Tests tool that emits log messages during execution',
    {},
    async (_args, extra) => {
      const steps = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];
      for (const [i, data] of steps.entries()) {
        if (i > 0) await sleep(50);
        await extra.sendNotification({
          method: 'notifications/message',
          params: { level: 'info', logger: 'conformance-upstream', data },
        });
      }
      return text('Tool with logging executed successfully');
    },
  );
  tool(
    'test_tool_with_progress',
    'Tests tool that reports progress notifications',
    {},
    async (_args, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progress > 0) await sleep(50);
        if (progressToken === undefined) continue;
        await extra.sendNotification({
          method: 'notifications/progress',
          params: {
            progressToken,
            progress,
            total: 100,
            message: `Completed step ${progress} of 100`,
          },
        });
      }
      return text(String(progressToken ?? 'no progress token'));
    },
  );
  tool('test_error_handling', 'Tests error response handling', {}, async () => {
    // The SDK turns a thrown error into an `isError: true` result with this text.
    throw new Error('This tool intentionally returns an error for testing');
  });
  tool(
    'test_reconnection',
    'Tests SSE stream disconnection and client reconnection (SEP-1699): the server closes the stream mid-call and sends the result after the client reconnects.',
    {},
    async (_args, extra) => {
      extra.closeSSEStream?.();
      await sleep(100);
      return text(
        'Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.',
      );
    },
  );
  tool(
    'test_sampling',
    'Tests server-initiated sampling (LLM completion request)',
    { prompt: z.string().describe('The prompt to send to the LLM') },
    async ({ prompt }, extra) => {
      try {
        const r = await extra.sendRequest(
          {
            method: 'sampling/createMessage',
            params: {
              messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
              maxTokens: 100,
            },
          },
          CreateMessageResultSchema,
        );
        return text(`LLM response: ${r.content?.text ?? 'No response'}`);
      } catch (err) {
        return text(`Sampling not supported or error: ${err.message}`);
      }
    },
  );
  tool(
    'test_elicitation',
    'Tests server-initiated elicitation (user input request)',
    { message: z.string().describe('The message to show the user') },
    async ({ message }, extra) =>
      elicit(
        extra,
        {
          message,
          requestedSchema: {
            type: 'object',
            properties: { response: { type: 'string', description: "User's response" } },
            required: ['response'],
          },
        },
        'User response',
      ),
  );
  tool(
    'test_elicitation_sep1034_defaults',
    'Tests elicitation with default values per SEP-1034',
    {},
    async (_args, extra) => elicit(extra, DEFAULTS_FORM, 'Elicitation completed'),
  );
  tool(
    'test_elicitation_sep1330_enums',
    'Tests elicitation with enum schema improvements per SEP-1330',
    {},
    async (_args, extra) => elicit(extra, ENUMS_FORM, 'Elicitation completed'),
  );
  tool(
    'json_schema_2020_12_tool',
    'Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)',
    {
      name: z.string().optional(),
      address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional(),
    },
    async (args) => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`),
    SCHEMA_2020_12,
  );
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }));

  server.registerResource(
    'static-text',
    'test://static-text',
    {
      title: 'Static Text Resource',
      description: 'A static text resource',
      mimeType: 'text/plain',
    },
    async (uri) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'text/plain',
          text: 'This is the content of the static text resource.',
        },
      ],
    }),
  );
  server.registerResource(
    'static-binary',
    'test://static-binary',
    { title: 'Static Binary Resource', description: 'A 1x1 PNG image', mimeType: 'image/png' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: PNG }] }),
  );
  server.registerResource(
    'template',
    new ResourceTemplate('test://template/{id}/data', { list: undefined }),
    {
      title: 'Resource Template',
      description: 'A resource template with parameter substitution',
      mimeType: 'application/json',
    },
    async (uri, { id }) => ({
      contents: [
        {
          uri: uri.href,
          mimeType: 'application/json',
          text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
        },
      ],
    }),
  );
  server.registerResource(
    'watched-resource',
    'test://watched-resource',
    {
      title: 'Watched Resource',
      description: 'A resource clients can subscribe to',
      mimeType: 'text/plain',
    },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Watched resource content' }],
    }),
  );
  // Subscriptions are accepted and forgotten: nothing here ever changes.
  server.server.setRequestHandler(SubscribeRequestSchema, () => ({}));
  server.server.setRequestHandler(UnsubscribeRequestSchema, () => ({}));

  server.registerPrompt(
    'test_simple_prompt',
    { title: 'Simple Test Prompt', description: 'A simple prompt without arguments' },
    async () => ({
      messages: [
        { role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } },
      ],
    }),
  );
  // completable() makes the SDK answer completion/complete for these arguments.
  const suggest = (value) => ['paris', 'park', 'party'].filter((w) => w.startsWith(value));
  server.registerPrompt(
    'test_prompt_with_arguments',
    {
      title: 'Prompt With Arguments',
      description: 'A prompt with required arguments',
      argsSchema: {
        arg1: completable(z.string().describe('First test argument'), suggest),
        arg2: completable(z.string().describe('Second test argument'), suggest),
      },
    },
    async ({ arg1, arg2 }) => ({
      messages: [
        {
          role: 'user',
          content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` },
        },
      ],
    }),
  );
  server.registerPrompt(
    'test_prompt_with_embedded_resource',
    {
      title: 'Prompt With Embedded Resource',
      description: 'A prompt that includes an embedded resource',
      argsSchema: { resourceUri: z.string().describe('URI of the resource to embed') },
    },
    async ({ resourceUri }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'resource',
            resource: {
              uri: resourceUri,
              mimeType: 'text/plain',
              text: 'Embedded resource content for testing.',
            },
          },
        },
        {
          role: 'user',
          content: { type: 'text', text: 'Please process the embedded resource above.' },
        },
      ],
    }),
  );
  server.registerPrompt(
    'test_prompt_with_image',
    { title: 'Prompt With Image', description: 'A prompt that includes image content' },
    async () => ({
      messages: [
        { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
        { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
      ],
    }),
  );

  return server;
}

/** Every message of every stream, by event id, so a client can resume after the server closed a stream. */
const events = new Map();
const eventStore = {
  async storeEvent(streamId, message) {
    const id = `${streamId}::${String(events.size).padStart(8, '0')}`;
    events.set(id, { streamId, message });
    return id;
  },
  async replayEventsAfter(lastEventId, { send }) {
    const streamId = lastEventId.split('::')[0];
    for (const [id, e] of events)
      if (e.streamId === streamId && id > lastEventId && Object.keys(e.message).length > 0)
        await send(id, e.message);
    return streamId;
  },
};

/** The open sessions: id → transport (its McpServer is connected to it). */
const sessions = new Map();

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
const hostnameOf = (value) => {
  try {
    return new URL(value.includes('://') ? value : `http://${value}`).hostname;
  } catch {
    return null;
  }
};

function reply(res, status, message) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}

async function openSession(req, res, body) {
  const server = buildServer();
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    eventStore,
    retryInterval: 1000,
    onsessioninitialized: (id) => sessions.set(id, transport),
  });
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
    void server.close().catch(() => undefined);
  };
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
}

const http = createServer(async (req, res) => {
  try {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/mcp')
      return reply(res, 404, 'not found: the MCP endpoint is /mcp');
    const origin = req.headers.origin;
    if (
      !LOOPBACK.has(hostnameOf(req.headers.host ?? '')) ||
      (origin !== undefined && !LOOPBACK.has(hostnameOf(origin)))
    )
      return reply(res, 403, 'Host and Origin must be loopback names (DNS rebinding protection)');
    const sid = req.headers['mcp-session-id'];
    const body = req.method === 'POST' ? await readJson(req) : undefined;
    if (sid === undefined && req.method === 'POST' && body?.method === 'initialize')
      return await openSession(req, res, body);
    if (sid === undefined) return reply(res, 400, 'send initialize first, or an Mcp-Session-Id');
    const transport = sessions.get(sid);
    if (!transport) return reply(res, 404, 'no such session; send initialize to open one');
    await transport.handleRequest(req, res, body);
  } catch (err) {
    process.stderr.write(`conformance upstream: ${err?.stack ?? err}\n`);
    if (!res.headersSent) reply(res, 500, 'internal error');
  }
});

http.listen(port, HOST, () => {
  process.stdout.write(`conformance upstream on http://${HOST}:${http.address().port}/mcp\n`);
});
const stop = () => {
  for (const t of sessions.values()) void t.close().catch(() => undefined);
  http.close(() => process.exit(0));
  http.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
