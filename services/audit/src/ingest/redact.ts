import { forProject, type GatewayFiles } from '@sg/config';
import { maskPii, type MaskOptions } from '@sg/redaction';

/**
 * Top-level fields of event data that identify a call and are kept as they are, so the trail
 * can be queried by them and says who acted (`user_id` is the X-User-Id the agent named, and
 * `principal` and `approver` the admin who acted, kept for accountability even when they are email
 * addresses). Everything else (arguments, results, reasons, nested values) is masked.
 */
const IDENTITY_FIELDS = new Set([
  'agent_id',
  'agent_version',
  'user_id',
  'session_id',
  'request_id',
  'tool',
  'alert_id',
  'approval_id',
  'version',
  'previous_version',
  'instance',
  'principal',
  'approver',
  'peer',
]);

/**
 * Credential-like keys, redacted in every project besides the project's forbidden fields: the
 * normalised name (lower case, no `_`, `-` or spaces) contains one of these, or ends in `token`
 * (`auth_token`, `X-Auth-Token`, `apiToken`; not `max_tokens`).
 */
export const CREDENTIAL_FIELD =
  /passw|passphrase|pwd|secret|apikey|accesskey|privatekey|credential|authorization|cookie|token$/;

/**
 * The masking the audit applies before storage: the executor's detectors at the executor's level
 * for the call (the tool's, else the project's; the stricter of the two is kept, and `off` stores
 * `standard`: an agent may see raw results, the trail never keeps them), plus the values of
 * credential-like and forbidden fields as `[redacted]`.
 */
export function auditMaskOptions(files: GatewayFiles, project: string, tool?: string): MaskOptions {
  const policy = forProject(files.policies, project);
  const toolLevel = tool === undefined ? undefined : files.tools.get(tool)?.pii_masking.level;
  return {
    level: policy.pii_masking.level === 'strict' || toolLevel === 'strict' ? 'strict' : 'standard',
    redactFields: policy.forbidden_fields,
    redactFieldPattern: CREDENTIAL_FIELD,
  };
}

export function redactEventData(data: unknown, opts: MaskOptions): unknown {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return maskPii(data, opts).value;
  // One maskPii call per event (it compiles its options each call): the top-level values go in
  // as an array, so their own keys are not matched, exactly as if each were masked alone.
  const entries = Object.entries(data);
  const masked = maskPii(
    entries.map(([key, value]) => (IDENTITY_FIELDS.has(key) ? null : value)),
    opts,
  ).value as unknown[];
  return Object.fromEntries(
    entries.map(([key, value], i) => [key, IDENTITY_FIELDS.has(key) ? value : masked[i]]),
  );
}
