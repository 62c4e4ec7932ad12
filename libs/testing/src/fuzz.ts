// The fuzzer of issue 16 §5: HTTP requests over an OpenAPI document, JSON-RPC inside an MCP
// session, NATS requests, and events where the services' handlers read them.
export * from './fuzz-inputs.js';
export * from './fuzz-http.js';
export * from './fuzz-mcp.js';
export * from './fuzz-nats.js';
export * from './fuzz-events.js';
