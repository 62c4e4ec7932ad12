/**
 * The exit statuses of `sg`, documented in docs/cli.md and `sg --help`. Scripts and CI jobs
 * branch on them, so each one means one thing and never changes meaning.
 */
export const ExitCode = {
  /** It worked, and every check passed. */
  Ok: 0,
  /** The command ran, and what it checked failed: lint problems, a chain or signature that does not verify, a changed simulation with --fail-on-change, a conflict. */
  CheckFailed: 1,
  /** The command line or an input file is wrong (also a 400 from the gateway: it refused what was sent). */
  Usage: 2,
  /** The gateway refused the credential or its permissions (401, 403), or there was none to send. */
  Auth: 3,
  /** What was named does not exist (404). */
  NotFound: 4,
  /** The gateway is unreachable, timed out, answered 5xx or 429: try again later. */
  Unavailable: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit status for a gateway answer's HTTP status that is not a success. */
export function exitCodeForStatus(status: number): ExitCode {
  if (status >= 200 && status < 300) return ExitCode.Ok;
  if (status === 401 || status === 403) return ExitCode.Auth;
  if (status === 404) return ExitCode.NotFound;
  if (status === 429 || status >= 500) return ExitCode.Unavailable;
  // 400, 413 and 415 say the request itself was malformed: what the user typed or the file.
  if (status === 400 || status === 413 || status === 415) return ExitCode.Usage;
  // 409 (not pending, unverified version), 410 (expired), 422 (a candidate that does not load).
  return ExitCode.CheckFailed;
}

/**
 * An error `sg` reports as one line on stderr (no stack trace) and exits with. `code` is the
 * gateway's error code when the gateway gave one.
 */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly code?: string,
    /** Further lines printed after the message (the problems of a candidate, a hint). */
    readonly more: string[] = [],
  ) {
    super(message);
  }
}

/** A command line that cannot run: exit 2, with what to type instead. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string, more: string[] = []) {
    super(message, ExitCode.Usage, undefined, more);
  }
}
