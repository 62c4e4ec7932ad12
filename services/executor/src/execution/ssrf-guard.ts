import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { GatewayError } from '@sg/contracts';

/**
 * SSRF guard. Upstream URLs come from the registry only, never from the agent; on top of that,
 * link-local, cloud-metadata and unspecified addresses are refused unless the upstream says
 * `allow_link_local: true`. Loopback and private (RFC 1918, fc00::/7) ranges stay allowed: the
 * gateway's own tools commonly live there.
 *
 * Two checks, so DNS rebinding cannot slip through:
 * - assertUpstreamAllowed(): before any connection, on the URL's host: metadata host names and
 *   IP literals (a literal is never looked up, so this is its only check);
 * - guardedLookup: the `lookup` of the undici Agent's sockets. It resolves the name, refuses it if
 *   any address is blocked, and hands the socket exactly the addresses it checked, so the
 *   address connected to is the address checked (no second resolution in between).
 */

const blocked = new BlockList();
// Link-local, which includes the metadata address 169.254.169.254 (AWS, GCP, Azure, ...).
blocked.addSubnet('169.254.0.0', 16, 'ipv4');
blocked.addSubnet('fe80::', 10, 'ipv6');
// "This network" and the unspecified addresses (0.0.0.0 reaches the host itself).
blocked.addSubnet('0.0.0.0', 8, 'ipv4');
blocked.addAddress('::', 'ipv6');
// AWS's IPv6 metadata address.
blocked.addAddress('fd00:ec2::254', 'ipv6');
// The same, written as IPv4-mapped or NAT64 IPv6.
blocked.addSubnet('::ffff:169.254.0.0', 112, 'ipv6');
blocked.addSubnet('::ffff:0.0.0.0', 104, 'ipv6');
blocked.addSubnet('64:ff9b::169.254.0.0', 112, 'ipv6');

/** Cloud metadata services by name (they also resolve to link-local addresses). */
const METADATA_HOSTS = new Set([
  'metadata.google.internal',
  'metadata.goog',
  'metadata.azure.com',
  'instance-data',
  'instance-data.ec2.internal',
]);

/** The error code a refused lookup carries through undici's connection error. */
export const SSRF_REFUSED_CODE = 'ESG_SSRF_REFUSED';

export class SsrfRefusedError extends Error {
  readonly code = SSRF_REFUSED_CODE;
  constructor(readonly host: string) {
    super(`connections to ${host} are refused (link-local or cloud-metadata address)`);
    this.name = 'SsrfRefusedError';
  }
}

/** True when the address is link-local, metadata or unspecified. */
export function isBlockedAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return blocked.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

function bareHost(hostname: string): string {
  return hostname
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
}

/** True when the host name itself is refused (metadata name, or a blocked IP literal). */
export function isBlockedHost(hostname: string): boolean {
  const host = bareHost(hostname);
  return METADATA_HOSTS.has(host) || isBlockedAddress(host);
}

/** Throws EXECUTOR.SSRF_REFUSED, naming the tool and host, when the URL's host is refused. */
export function assertUpstreamAllowed(tool: string, url: URL, allowLinkLocal: boolean): void {
  if (allowLinkLocal) return;
  if (isBlockedHost(url.hostname)) throw ssrfRefused(tool, url.hostname);
}

export function ssrfRefused(tool: string, host: string): GatewayError {
  return new GatewayError(
    'EXECUTOR.SSRF_REFUSED',
    `${tool}'s upstream host ${bareHost(host)} is a link-local or cloud-metadata address, refused unless the registry sets allow_link_local`,
    { host: bareHost(host) },
  );
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for net/tls.connect: dns.lookup of every address, refused with SsrfRefusedError if
 * any is blocked, else answered in the form the caller asked for (one address or all).
 */
export function guardedLookup(
  hostname: string,
  options: LookupOptions,
  callback: LookupCallback,
): void {
  if (isBlockedHost(hostname)) {
    process.nextTick(() => callback(new SsrfRefusedError(bareHost(hostname)), ''));
    return;
  }
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    const list = addresses as LookupAddress[];
    if (list.length === 0)
      return callback(
        Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }),
        '',
      );
    if (list.some((a) => isBlockedAddress(a.address)))
      return callback(new SsrfRefusedError(bareHost(hostname)), '');
    if (options.all) return callback(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
}

/** The SsrfRefusedError somewhere in an error's cause chain, if any. */
export function findSsrfRefusal(err: unknown): SsrfRefusedError | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 8; depth++) {
    if (e instanceof SsrfRefusedError || (e as { code?: unknown }).code === SSRF_REFUSED_CODE)
      return e as SsrfRefusedError;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
