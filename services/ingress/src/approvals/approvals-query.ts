import {
  type ApprovalListQuery,
  APPROVALS_MAX_LIMIT,
  type ApprovalStatus,
  approvalStatusSchema,
} from '@sg/contracts';
import { oneOf, parseParams } from '../admin/audit-query.js';

const DEFAULT_LIMIT = 50;

/**
 * GET /api/approvals?status=&project=&limit=&cursor=: strict as the audit queries are (an unknown,
 * repeated, empty or malformed parameter is 400 AUDIT.INVALID_QUERY naming it; a malformed
 * cursor alone AUDIT.INVALID_CURSOR), so a typo never shows another queue than the one asked for.
 */
export function parseApprovalsQuery(params: URLSearchParams): ApprovalListQuery {
  const q = parseParams(
    params,
    ['status', 'project', 'limit', 'cursor'],
    [],
    undefined,
    'AUDIT.INVALID_QUERY',
    {
      status: oneOf(approvalStatusSchema.options),
      limit: {
        expected: `an integer from 1 to ${APPROVALS_MAX_LIMIT}`,
        parse: (v) =>
          /^\d{1,3}$/.test(v) && Number(v) >= 1 && Number(v) <= APPROVALS_MAX_LIMIT
            ? Number(v)
            : undefined,
      },
    },
  );
  return {
    status: (q.status as ApprovalStatus | undefined) ?? 'pending',
    ...(q.project !== undefined ? { project: q.project as string } : {}),
    limit: (q.limit as number | undefined) ?? DEFAULT_LIMIT,
    ...(q.cursor !== undefined ? { cursor: q.cursor as string } : {}),
  };
}
