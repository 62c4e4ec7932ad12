import { argumentsSchema, callableToolNameSchema, idSchema } from '@sg/contracts';
import { z } from 'zod';

/** POST /api/tools/call (seed 004's envelope). */
export const toolCallEnvelopeSchema = z.strictObject({
  agent_id: idSchema,
  agent_version: z.string().min(1).max(64),
  request_id: idSchema,
  tool: callableToolNameSchema,
  arguments: argumentsSchema,
});

/** POST /mcp/toolcall (seeds 000/001). */
export const mcpToolCallSchema = z.strictObject({
  model_id: idSchema,
  session_id: idSchema,
  tool: callableToolNameSchema,
  input: argumentsSchema.default({}),
});

/** Both shapes, reduced to what the rest of the path needs. */
export interface NormalizedCall {
  agentId: string;
  agentVersion: string | null;
  requestId: string;
  /** The agent chose the request_id (so a repeat is a retry of the same call). */
  clientRequestId: boolean;
  sessionId: string;
  userId: string | undefined;
  tool: string;
  arguments: Record<string, unknown>;
  /** A peer's call (channel federation): the gateways it crossed, carried on if it is forwarded again. */
  via?: string[];
  hops?: number;
}
