import { z } from 'zod';
import { errorBodySchema } from './errors.js';
import { decisionSchema } from './policy/decide.js';

/**
 * What a tool call answers, whatever its outcome (its result, a denial, a pending approval):
 * POST /api/tools/call, /mcp/toolcall and /api/sdk/authorize, and a peer's POST /forward (which
 * adds the answering `gateway`).
 */
export const toolCallAnswerSchema = z.object({
  success: z.boolean(),
  allowed: z.boolean().optional(),
  status: z.enum(['pending_approval', 'authorized']).optional(),
  result: z.unknown().optional(),
  error: errorBodySchema.optional(),
  approval_id: z.uuid().optional(),
  expires_at: z.string().optional(),
  decision: decisionSchema.partial().optional(),
  remote_decision: z.unknown().optional(),
  risk_score: z.number().optional(),
  trace_id: z.string(),
  audit_id: z.string().optional(),
});
