import { mcpToolCallSchema, toolCallEnvelopeSchema } from './envelopes.js';

describe('request envelopes', () => {
  const envelope = {
    agent_id: 'a',
    agent_version: '1',
    request_id: 'r',
    tool: 'calendar.list_events',
    arguments: {},
  };

  it('accepts seed 004 envelopes and refuses unknown fields', () => {
    expect(toolCallEnvelopeSchema.safeParse(envelope).success).toBe(true);
    expect(toolCallEnvelopeSchema.safeParse({ ...envelope, admin: true }).success).toBe(false);
    expect(toolCallEnvelopeSchema.safeParse({ ...envelope, arguments: [] }).success).toBe(false);
  });

  it('defaults the MCP input to an empty object', () => {
    expect(mcpToolCallSchema.parse({ model_id: 'm', session_id: 's', tool: 'x.y' }).input).toEqual(
      {},
    );
  });
});
