export * from './ids.js';
export * from './servers.js';
export * from './net.js';
export * from './upstream.js';
export * from './config-dir.js';
export * from './fuzz.js';
export * from './mcp.js';
