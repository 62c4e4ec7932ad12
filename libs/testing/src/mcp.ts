/** The MCP revision the tests speak. */
export const MCP_PROTOCOL_VERSION = '2025-11-25';

/** The `initialize` request an MCP client opens a session with, as `clientName`. */
export function mcpInitialize(clientName: string) {
  return {
    jsonrpc: '2.0' as const,
    id: 1,
    method: 'initialize' as const,
    params: {
      protocolVersion: MCP_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: clientName, version: '0' },
    },
  };
}
