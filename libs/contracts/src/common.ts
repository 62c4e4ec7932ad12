import { z } from 'zod';

/** Tool names: dotted lower-case segments, e.g. `calendar.list_events`. */
export const TOOL_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/i;
export const toolNameSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(
    TOOL_NAME_PATTERN,
    'use dotted segments of letters, digits, _ and -, e.g. calendar.list_events',
  );

/** A gateway's id among its peers (`self` and the peers of trusted_peers.yaml, a via chain). */
export const GATEWAY_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const gatewayIdSchema = z.string().regex(GATEWAY_ID_PATTERN);

/**
 * A peer's tool as this gateway names it: `<peer_id>/<tool>`, e.g. `gw-b/calendar.list_events`.
 * The tool may itself be one the peer reaches through its own peers (`gw-b/gw-c/calendar.list_events`).
 */
export const REMOTE_TOOL_PATTERN =
  /^([a-z0-9][a-z0-9_-]{0,62})\/((?:[a-z0-9][a-z0-9_-]{0,62}\/)*[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9][A-Za-z0-9_-]*)*)$/;

/** A tool an agent may name: a local tool, or a peer's as `<peer_id>/<tool>`. */
export const callableToolNameSchema = z
  .string()
  .min(1)
  .max(256)
  .refine(
    (name) => TOOL_NAME_PATTERN.test(name) || REMOTE_TOOL_PATTERN.test(name),
    "use dotted segments of letters, digits, _ and -, e.g. calendar.list_events, or <peer_id>/<tool> for a peer gateway's tool",
  );

/** The peer and its tool of a `<peer_id>/<tool>` name; null for a local tool. */
export function remoteToolOf(name: string): { peer: string; tool: string } | null {
  const m = name.length <= 256 ? REMOTE_TOOL_PATTERN.exec(name) : null;
  return m ? { peer: m[1]!, tool: m[2]! } : null;
}

export const PROJECT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const projectIdSchema = z
  .string()
  .regex(
    PROJECT_ID_PATTERN,
    'use 1-63 lower-case letters, digits, _ or -, starting with a letter or digit',
  );

export const idSchema = z.string().min(1).max(128);

/** Text PostgreSQL can store: it refuses U+0000 in text columns. */
export const storableTextSchema = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((v) => !v.includes('\u0000'), 'must not contain U+0000');
export const argumentsSchema = z.record(z.string(), z.unknown());
/** How a call came in: REST (/api/tools/call), MCP (/mcp/toolcall and /mcp), the governed-tool SDK (/api/sdk/authorize), or a peer gateway (/forward). */
export const channelSchema = z.enum(['rest', 'mcp', 'sdk', 'federation']);
export type Channel = z.infer<typeof channelSchema>;
