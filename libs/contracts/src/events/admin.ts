import { z } from 'zod';

/** How an admin proved who they are: an admins.yaml key, an OIDC token, or the bootstrap ADMIN_API_KEY. */
export const adminViaSchema = z.enum(['key', 'oidc', 'bootstrap']);

/**
 * ingress: one request to an admin endpoint, answered or refused, with who made it (docs/admins.md).
 * Reads are recorded too. A refused request names no principal unless it proved one.
 */
export const ADMIN_ACTION = 'gw.evt.admin.action.v1';
export const adminActionSchema = z.object({
  principal: z.string().nullable(),
  roles: z.array(z.string()),
  via: adminViaSchema.nullable(),
  /** What the endpoint needs, e.g. `approvals.resolve`, `audit.read`. */
  permission: z.string(),
  method: z.string(),
  /** The path, without its query. */
  path: z.string(),
  http_status: z.number().int(),
  code: z.string().nullable(),
  /** What the request did, where the route says more than its path (e.g. a simulation's inputs and counts). */
  detail: z.record(z.string(), z.unknown()).optional(),
});
export type AdminAction = z.infer<typeof adminActionSchema>;
