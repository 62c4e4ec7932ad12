/**
 * The CLI's environment, read once at start: where the gateway is and the admin credential.
 * Secrets come only from here, never from a flag, because flags land in shell history and in
 * `ps`. Three variables do not justify loading zod on every run of a short-lived command.
 */

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** How a request proves its admin (docs/admins.md): a key, or an OIDC bearer token. */
export type Credential =
  | { kind: 'admin-key'; header: 'x-admin-key'; value: string }
  | { kind: 'token'; header: 'authorization'; value: string };

export interface CliEnv {
  /** SG_URL, or undefined for the default. */
  url: string | undefined;
  /** SG_ADMIN_KEY or SG_TOKEN; null when neither is set. */
  credential: Credential | null;
}

export class EnvError extends Error {
  override name = 'EnvError';
}

/** Printable ASCII without spaces: anything else cannot go in a header (and is never echoed). */
const HEADER_SAFE = /^[\x21-\x7e]+$/;

function secret(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const value = raw.trim();
  if (value === '') throw new EnvError(`${name} is set but empty; give it a value, or unset it`);
  if (!HEADER_SAFE.test(value))
    throw new EnvError(
      `${name} holds characters a header cannot carry (spaces, control characters or non-ASCII, ${value.length} characters in all); check how it was exported`,
    );
  return value;
}

/** Parses the variables; an EnvError names the bad one and never contains a secret. */
export function loadEnv(env: NodeJS.ProcessEnv = process.env): CliEnv {
  const key = secret('SG_ADMIN_KEY', env.SG_ADMIN_KEY);
  const token = secret('SG_TOKEN', env.SG_TOKEN);
  if (key !== undefined && token !== undefined)
    throw new EnvError('both SG_ADMIN_KEY and SG_TOKEN are set; unset one of them');
  const url = env.SG_URL?.trim() || undefined;
  return {
    url,
    credential:
      key !== undefined
        ? { kind: 'admin-key', header: 'x-admin-key', value: key }
        : token !== undefined
          ? { kind: 'token', header: 'authorization', value: `Bearer ${token}` }
          : null,
  };
}
