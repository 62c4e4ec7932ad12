import { type AuditRecord, GatewayError, type RecordsPage } from '@sg/contracts';

/** Records per page the export asks the audit service for. */
export const EXPORT_PAGE_SIZE = 500;

/**
 * The JSONL export: one line per record, page after page, each page fetched only when the
 * previous one has been read, so memory holds one page whatever the export's size. The
 * headers are sent by then, so a page that fails ends the stream with one last line
 * `{"error": {code, message}, "trace_id"}` (a line without audit_id: no record looks like it).
 */
export async function* exportLines(
  first: RecordsPage,
  next: (cursor: string) => Promise<RecordsPage>,
  traceId: string,
): AsyncGenerator<string> {
  let page = first;
  for (;;) {
    if (page.records.length > 0) yield page.records.map(line).join('');
    if (!page.next_cursor) return;
    try {
      page = await next(page.next_cursor);
    } catch (err) {
      const error =
        err instanceof GatewayError
          ? err
          : new GatewayError(
              'GATEWAY.INTERNAL',
              'internal error; quote the trace_id to an operator',
            );
      yield (
        JSON.stringify({
          error: {
            code: error.code,
            message: `the export stopped before its end: ${error.message}`,
          },
          trace_id: traceId,
        }) + '\n'
      );
      return;
    }
  }
}

function line(record: AuditRecord): string {
  return `${JSON.stringify(record)}\n`;
}
