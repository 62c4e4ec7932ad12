import {
  type ApprovalListQuery,
  APPROVALS_MAX_LIMIT,
  type ApprovalStatus,
  approvalStatusSchema,
} from '@sg/contracts';
import { oneOf, parseParams, type QueryParams, wholeNumber } from '../admin/audit-query.js';

const DEFAULT_LIMIT = 50;

/** Its parameters: the audit queries' rules, with the approvals' own status and a smaller limit. */
export const APPROVALS_QUERY = {
  allowed: ['status', 'project', 'limit', 'cursor'],
  specs: {
    status: oneOf(approvalStatusSchema.options),
    limit: wholeNumber(3, 1, APPROVALS_MAX_LIMIT, `an integer from 1 to ${APPROVALS_MAX_LIMIT}`),
  },
} satisfies QueryParams;

/**
 * GET /api/approvals?status=&project=&limit=&cursor=: strict as the audit queries are (an unknown,
 * repeated, empty or malformed parameter is 400 AUDIT.INVALID_QUERY naming it; a malformed
 * cursor alone AUDIT.INVALID_CURSOR), so a typo never shows another queue than the one asked for.
 */
export function parseApprovalsQuery(params: URLSearchParams): ApprovalListQuery {
  const q = parseParams(
    params,
    APPROVALS_QUERY.allowed,
    [],
    undefined,
    'AUDIT.INVALID_QUERY',
    APPROVALS_QUERY.specs,
  );
  return {
    status: (q.status as ApprovalStatus | undefined) ?? 'pending',
    ...(q.project !== undefined ? { project: q.project as string } : {}),
    limit: (q.limit as number | undefined) ?? DEFAULT_LIMIT,
    ...(q.cursor !== undefined ? { cursor: q.cursor as string } : {}),
  };
}
