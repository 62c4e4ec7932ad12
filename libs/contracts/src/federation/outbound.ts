import { z } from 'zod';
import { callableToolNameSchema, gatewayIdSchema, PROJECT_ID_PATTERN } from '../common.js';
import { errorBodySchema } from '../errors.js';
import { forwardRequestSchema } from './forward.js';

/**
 * The header that sends an allowed call to a trusted peer (seed 000's name). Its value is a peer
 * id of trusted_peers.yaml, never a URL. `x-forward-to` is accepted too, for proxies that drop
 * header names with an underscore (nginx does by default).
 */
export const FORWARD_TO_HEADERS = ['forward_to', 'x-forward-to'] as const;

/** One tool of a peer's catalogue (`GET /federation/tools`). */
export const catalogueToolSchema = z.object({
  /** A tool of the peer, or one it reaches through its own peers (`<peer_id>/<tool>`). */
  name: callableToolNameSchema,
  description: z.string().max(10_000).default(''),
  /** JSON Schema of the arguments, as the peer validates them. */
  input_schema: z.record(z.string(), z.unknown()),
  /** The peer asks a person before it runs the tool. */
  requires_approval: z.boolean().default(false),
  /** Results hold personal data: callers here need the PII_READ grant too. */
  pii: z.boolean().default(false),
  writes: z.boolean().default(false),
  idempotent: z.boolean().default(false),
  tenant_field: z.string().min(1).max(64).optional(),
});
export type CatalogueTool = z.infer<typeof catalogueToolSchema>;

/** `GET /federation/tools?project=`: the tools a gateway lets the calling peer use there. */
export const catalogueSchema = z.object({
  gateway: gatewayIdSchema,
  project: z.string().regex(PROJECT_ID_PATTERN),
  tools: z.array(catalogueToolSchema).max(10_000),
});
export type Catalogue = z.infer<typeof catalogueSchema>;
/**
 * Its query: the project (`default` when left out) and `transit=0`, which answers this gateway's
 * own tools only (a peer asking on behalf of its own peers, one level deep). Other parameters
 * are ignored, so a peer of a newer version is not refused for one it adds.
 */
export const catalogueQuerySchema = z.object({
  project: z.string().regex(PROJECT_ID_PATTERN).optional(),
  transit: z.string().max(16).optional(),
});

/** ingress → federation: a peer's catalogue for a project (fetched signed, cached by the asker). */
export const FEDERATION_CATALOGUE_SUBJECT = 'gw.federation.catalogue.v1';
export const catalogueRequestSchema = z.object({
  peer: gatewayIdSchema,
  project: z.string().regex(PROJECT_ID_PATTERN),
});

/**
 * ingress → federation: send a call this gateway allowed to a trusted peer's `/forward`, signed.
 * `via` and `hops` are those of the call as it reached this gateway (empty and 0 for a local
 * agent's call); the federation service adds this gateway. The rest is the `/forward` body:
 * `tool` as the peer names it, `original_decision` this gateway's decision.
 */
export const FEDERATION_FORWARD_SUBJECT = 'gw.federation.forward.v1';
export const outboundForwardSchema = forwardRequestSchema.extend({
  peer: gatewayIdSchema,
  via: z.array(gatewayIdSchema).max(16).default([]),
  hops: z.number().int().min(0).max(16).default(0),
});
export type OutboundForward = z.infer<typeof outboundForwardSchema>;

/**
 * What the peer said (the agent's `remote_decision`): its decision and, if it ran the tool, the
 * result; a refusal's error with the peer's own code.
 */
export const remoteDecisionSchema = z.object({
  gateway: gatewayIdSchema,
  /** The peer's HTTP status. */
  http_status: z.number().int(),
  allowed: z.boolean(),
  /** `executed`, `pending_approval` (at the peer), or `refused`. */
  status: z.enum(['executed', 'pending_approval', 'refused']),
  decision: z.record(z.string(), z.unknown()).nullable(),
  result: z.unknown().optional(),
  /** The peer's error as it sent it (its code may be one this gateway does not know). */
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  approval_id: z.string().optional(),
  trace_id: z.string().nullable(),
  audit_id: z.string().nullable(),
});
export type RemoteDecision = z.infer<typeof remoteDecisionSchema>;

/** The answer for the agent: its HTTP status and error (the peer's, or this gateway's on its behalf). */
export const outboundAnswerSchema = z.object({
  status: z.number().int(),
  error: errorBodySchema.optional(),
  headers: z.record(z.string(), z.string()).default({}),
  remote_decision: remoteDecisionSchema,
});
export type OutboundAnswer = z.infer<typeof outboundAnswerSchema>;

/** ingress → federation: the peers and their health (the signed pings), for admins and /dash. */
export const FEDERATION_PEERS_SUBJECT = 'gw.federation.peers.v1';
export const peersQuerySchema = z.object({});
export const peerHealthSchema = z.object({
  peer: gatewayIdSchema,
  url: z.string(),
  state: z.enum(['up', 'down', 'unknown']),
  breaker: z.enum(['closed', 'half_open', 'open']),
  last_ping_at: z.string().nullable(),
  last_ok_at: z.string().nullable(),
  latency_ms: z.number().nullable(),
  error: z.string().nullable(),
});
export const peersReportSchema = z.object({
  self: gatewayIdSchema.nullable(),
  peers: z.array(peerHealthSchema),
});
export type PeersReport = z.infer<typeof peersReportSchema>;
