import { GatewayError } from '@sg/contracts';
import type { Logger } from '@sg/runtime';
import { isDataError } from '../store/event-store.js';

/**
 * Runs `work` against PostgreSQL and answers its failures as the audit API does: a value
 * PostgreSQL refuses is AUDIT.INVALID_QUERY (`refused` says which), anything else
 * AUDIT.STORE_UNAVAILABLE. A GatewayError (a refusal of the handler's own) passes unchanged.
 */
export async function storeAnswer<T>(
  logger: Logger,
  work: () => Promise<T>,
  refused: string,
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    if (isDataError(err)) throw new GatewayError('AUDIT.INVALID_QUERY', refused);
    logger.warn({ err: (err as Error).message }, 'audit store request failed');
    throw new GatewayError(
      'AUDIT.STORE_UNAVAILABLE',
      'the audit store (PostgreSQL) is unavailable; retry later',
    );
  }
}
