import { GatewayError, HttpHeaders } from '@sg/contracts';
import { secretEquals } from '../auth/keys.js';

/** Checks X-Admin-Key against ADMIN_API_KEY in constant time. */
export function requireAdmin(
  expected: string | undefined,
  headers: Record<string, string | string[] | undefined>,
) {
  if (!expected)
    throw new GatewayError(
      'AUTH.ADMIN_DISABLED',
      'the admin API is disabled; set ADMIN_API_KEY to enable it',
    );
  const v = headers[HttpHeaders.adminKey];
  const presented = Array.isArray(v) ? v[0] : v;
  if (!presented || !secretEquals(presented, expected)) {
    throw new GatewayError(
      'AUTH.ADMIN_KEY_REQUIRED',
      'send a valid admin key in the X-Admin-Key header',
    );
  }
}
