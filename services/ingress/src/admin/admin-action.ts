import { ADMIN_ACTION } from '@sg/contracts';
import type { MessageContext, NatsBus } from '@sg/messaging';
import type { FastifyRequest } from 'fastify';
import { adminSeen } from './admin-auth.js';

/**
 * Publishes the `gw.evt.admin.action.v1` record of an admin request (one AdminAuth.require saw):
 * who (once proven), what permission, the route, the status and code. AdminAuditHook calls it
 * for every answer Fastify sends; a route that takes over the reply (reply.hijack(), which skips
 * onSend) calls it itself.
 */
export function publishAdminAction(
  bus: NatsBus,
  req: FastifyRequest,
  ctx: MessageContext,
  httpStatus: number,
  code: string | null,
): void {
  const seen = adminSeen(req);
  if (!seen) return;
  const p = seen.principal;
  bus.publish(
    ADMIN_ACTION,
    {
      principal: p?.name ?? null,
      roles: p?.roles ?? [],
      via: p?.via ?? null,
      permission: seen.permission,
      method: req.method,
      path: (req.url.split('?')[0] ?? '').slice(0, 512),
      http_status: httpStatus,
      code,
      ...(seen.detail ? { detail: seen.detail } : {}),
    },
    ctx,
  );
}
