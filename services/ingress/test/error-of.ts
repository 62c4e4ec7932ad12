import { GatewayError } from '@sg/contracts';

/**
 * The GatewayError that `fn` throws, so a spec can assert on its code, status and message.
 * Fails the test when `fn` returns, and rethrows anything that is not a GatewayError.
 */
export function errorOf(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
}
