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

export const PROJECT_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const projectIdSchema = z
  .string()
  .regex(
    PROJECT_ID_PATTERN,
    'use 1-63 lower-case letters, digits, _ or -, starting with a letter or digit',
  );

export const idSchema = z.string().min(1).max(128);
export const argumentsSchema = z.record(z.string(), z.unknown());
/** How a call came in: REST (/api/tools/call), MCP (/mcp/toolcall and /mcp), the governed-tool SDK (/api/sdk/authorize), or a peer gateway (/forward). */
export const channelSchema = z.enum(['rest', 'mcp', 'sdk', 'federation']);
export type Channel = z.infer<typeof channelSchema>;
