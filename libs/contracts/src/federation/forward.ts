import { z } from 'zod';
import {
  argumentsSchema,
  callableToolNameSchema,
  gatewayIdSchema,
  idSchema,
  PROJECT_ID_PATTERN,
} from '../common.js';

/** The header that names the sending gateway on `POST /forward`. */
export const GATEWAY_ID_HEADER = 'x-gateway-id';

/**
 * The body of `POST /forward` (docs/federation.md): the call as the sending gateway allowed it,
 * with that gateway's decision, and the gateways it crossed.
 */
export const forwardRequestSchema = z.strictObject({
  project: z.string().regex(PROJECT_ID_PATTERN),
  /** The agent at the sending gateway; here it is `<peer_id>/<agent_id>`. */
  agent_id: idSchema,
  session_id: idSchema,
  request_id: idSchema,
  user_id: idSchema.optional(),
  /** A tool of this gateway, or (onward) one of its peers' as `<peer_id>/<tool>`. */
  tool: callableToolNameSchema,
  arguments: argumentsSchema,
  /** The sending gateway's decision (seed 000's `original_decision`), recorded here as it came. */
  original_decision: z.record(z.string(), z.unknown()),
  /** The gateways the call crossed, the sender last. */
  via: z.array(gatewayIdSchema).min(1).max(16),
  /** How many forwards the call has taken, this one included. */
  hops: z.number().int().min(1).max(16),
});
export type ForwardRequest = z.infer<typeof forwardRequestSchema>;

/**
 * ingress: the federation service asks it to run a verified peer's call on the governed path
 * (the same decision, approvals, idempotency, execution and audit as a local call), as agent
 * `<peer>/<agent>`.
 */
export const INGRESS_GOVERN_SUBJECT = 'gw.ingress.govern.v1';
export const governRequestSchema = z.object({
  project: z.string(),
  /** The principal here: `<peer_id>/<agent_id>`. */
  agent_id: z.string().min(1).max(200),
  session_id: idSchema,
  request_id: idSchema,
  user_id: idSchema.optional(),
  tool: callableToolNameSchema,
  arguments: argumentsSchema,
  /** The gateways the call crossed and its hops: a call sent on to another peer carries them on. */
  via: z.array(gatewayIdSchema).max(16),
  hops: z.number().int().min(0).max(16),
});
export const governAnswerSchema = z.object({
  status: z.number().int(),
  headers: z.record(z.string(), z.string()),
  body: z.record(z.string(), z.unknown()),
});
export type GovernAnswer = z.infer<typeof governAnswerSchema>;

/**
 * federation: a peer's call was let in (before the local decision), with what the peer said
 * about it. Under the call's trace id, beside its toolcall.completed.
 */
export const FEDERATION_RECEIVED = 'gw.evt.federation.received.v1';
export const federationReceivedSchema = z.object({
  peer: z.string(),
  agent_id: z.string(),
  tool: z.string(),
  request_id: z.string(),
  via: z.array(z.string()),
  hops: z.number().int(),
  original_decision: z.record(z.string(), z.unknown()),
});
