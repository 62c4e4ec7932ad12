import type { AuditRecord, AuditStreamFilter } from '@sg/contracts';

/**
 * The pieces of GET /api/audit/stream that are plain functions: which records a client's
 * filters let through, and the Server-Sent Events framing of what it is sent.
 */

/** Whether a record passes a client's filters (every filter given must match, as in the records query). */
export function matchesFilter(filter: AuditStreamFilter, record: AuditRecord): boolean {
  return (
    (filter.project === undefined || filter.project === record.project) &&
    (filter.agent_id === undefined || filter.agent_id === record.agent_id) &&
    (filter.tool === undefined || filter.tool === record.tool_name) &&
    (filter.status === undefined || filter.status === record.status)
  );
}

/** A field value SSE can carry on one line: no CR, LF or NUL (a client ignores an id with NUL). */
const ONE_LINE = /^[^\r\n\0]*$/;

/**
 * One record as an SSE event: `id: <audit_id>`, `event: call`, `data: <json>`. JSON.stringify
 * escapes every CR and LF inside strings, so the data is a single line; an id that could break
 * the frame is left out rather than sent.
 */
export function callFrame(record: AuditRecord): string {
  const id = ONE_LINE.test(record.audit_id) ? `id: ${record.audit_id}\n` : '';
  return `${id}event: call\ndata: ${JSON.stringify(record)}\n\n`;
}

/**
 * The last event of a stream the gateway ends (a session that ended, a role withdrawn, a
 * shutdown): `event: end` with the error's code and message, so a client knows whether to
 * reconnect.
 */
export function endFrame(code: string, message: string): string {
  return `event: end\ndata: ${JSON.stringify({ code, message })}\n\n`;
}

/** A comment: ignored by clients, it keeps proxies from closing an idle connection. */
export function commentFrame(text: string): string {
  return `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`;
}
