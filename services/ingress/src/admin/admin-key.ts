import { GatewayError, HttpHeaders } from '@sg/contracts';
import { type HeaderBag, headerOf } from '@sg/runtime';
import { secretEquals } from '../auth/keys.js';

/** Checks X-Admin-Key against ADMIN_API_KEY in constant time. */
export function requireAdmin(expected: string | undefined, headers: HeaderBag) {
  if (!expected)
    throw new GatewayError(
      'AUTH.ADMIN_DISABLED',
      'the admin API is disabled; set ADMIN_API_KEY to enable it',
    );
  const presented = headerOf(headers, HttpHeaders.adminKey);
  if (!presented || !secretEquals(presented, expected)) {
    throw new GatewayError(
      'AUTH.ADMIN_KEY_REQUIRED',
      'send a valid admin key in the X-Admin-Key header',
    );
  }
}
