import { NatsBus } from '@sg/messaging';
import { createLogger } from '@sg/runtime';
import { TEST_SERVERS, type Isolation } from '@sg/testing';
import type { ServiceName } from '@sg/contracts';

/** The audit tests' logger: silent (tests assert on behaviour, not on log lines). */
export const logger = createLogger('audit', { level: 'silent', pretty: false });

/**
 * A NatsBus in the isolation's subject prefix, as `service` (the audit side, or a publisher
 * standing in for ingress). Close it with `bus.nc.drain()`: NatsBus.close()'s fallback timer
 * would hold Jest open.
 */
export function connectBus(iso: Isolation, service: ServiceName, requestTimeoutMs = 3000): Promise<NatsBus> {
  return NatsBus.connect({ url: TEST_SERVERS.natsUrl, prefix: iso.subjectPrefix, service, logger, requestTimeoutMs });
}
