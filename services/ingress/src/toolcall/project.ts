import { DEFAULT_PROJECT, unknownProjectMessage } from '@sg/config';
import { GatewayError, PROJECT_ID_PATTERN } from '@sg/contracts';

export interface RequestedProject {
  /** The project the request runs under; `default` also when the header is refused. */
  project: string;
  /** Why X-Project-ID cannot be used, or null. */
  error: GatewayError | null;
}

/**
 * X-Project-ID checked against the pattern and against the configured projects; no header
 * means `default`. A refused name is never used, not even to label the refusal's own audit
 * event: an invented name must not get rate limits, sessions or an audit chain of its own.
 */
export function resolveProject(
  header: string | undefined,
  configured: ReadonlySet<string>,
): RequestedProject {
  if (header === undefined || header === '') return { project: DEFAULT_PROJECT, error: null };
  if (!PROJECT_ID_PATTERN.test(header)) {
    const error = new GatewayError(
      'REQUEST.INVALID_PROJECT',
      'X-Project-ID must be 1-63 lower-case letters, digits, _ or -, starting with a letter or digit',
    );
    return { project: DEFAULT_PROJECT, error };
  }
  if (header !== DEFAULT_PROJECT && !configured.has(header)) {
    return {
      project: DEFAULT_PROJECT,
      error: new GatewayError('REQUEST.UNKNOWN_PROJECT', unknownProjectMessage(header), {
        project: header,
      }),
    };
  }
  return { project: header, error: null };
}
