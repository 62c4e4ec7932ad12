import { MCPSecurityError } from './errors.js';

/** `_meta` keys of a tools/call request and its result (the same as the gateway's own `/mcp`). */
export const META = {
  userId: 'securegateway/user_id',
  tenantId: 'securegateway/tenant_id',
  traceId: 'securegateway/trace_id',
  auditId: 'securegateway/audit_id',
} as const;

export interface CallContext {
  user_id: string;
  tenant_id: string | null;
}

/** A user id goes to the gateway as the X-User-Id header: printable ASCII, as it takes it. */
const USER_ID = /^[\x20-\x7e]{1,128}$/;

const given = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/**
 * Seed 003's order: the call's arguments (`user_id`, `tenant_id`), then the MCP request's
 * `_meta` (`securegateway/user_id`, `securegateway/tenant_id`), then `default_user` and no
 * tenant. An argument `tenant_id` that is present wins even when it is not a string: the gateway
 * checks the arguments, so `_meta` must not stand in for a tenant it did not see.
 */
export function callContext(
  args: Record<string, unknown>,
  meta: Record<string, unknown> | undefined,
): CallContext {
  const user = [args.user_id, meta?.[META.userId]].find(given) ?? 'default_user';
  if (!USER_ID.test(user))
    throw new MCPSecurityError({
      code: 'REQUEST.INVALID_BODY',
      failed_policy: 'request',
      reason: 'user_id must be 1 to 128 printable ASCII characters',
      suggestions: ['Send the end user as an id such as an account number or an e-mail address.'],
      trace_id: null,
    });
  let tenant: string | null = null;
  if ('tenant_id' in args) tenant = given(args.tenant_id) ? args.tenant_id : null;
  else if (given(meta?.[META.tenantId])) tenant = meta[META.tenantId] as string;
  return { user_id: user, tenant_id: tenant };
}

/**
 * The arguments the gateway decides on: the call's, plus a tenant taken from `_meta`, put where
 * the gateway's tenant check reads it (a registry entry with `tenant_field: tenant_id`). So the
 * tenant the handler is given is always one the gateway saw.
 */
export function decidedArguments(
  args: Record<string, unknown>,
  ctx: CallContext,
): Record<string, unknown> {
  return ctx.tenant_id !== null && !('tenant_id' in args)
    ? { ...args, tenant_id: ctx.tenant_id }
    : args;
}
