import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { type AuditRecord, GatewayError, type RecordsPage } from '@sg/contracts';
import { exportLines } from './audit-export.js';

const record = (n: number) =>
  ({ audit_id: `id-${n}`, status: 'success' }) as unknown as AuditRecord;
const page = (from: number, to: number, next: string | null): RecordsPage => ({
  records: Array.from({ length: to - from }, (_, i) => record(from + i)),
  next_cursor: next,
});

describe('exportLines', () => {
  it('writes one JSON line per record across pages, fetching each next page by its cursor', async () => {
    const asked: string[] = [];
    const pages: Record<string, RecordsPage> = { c1: page(2, 4, 'c2'), c2: page(4, 5, null) };
    const out = await text(
      Readable.from(
        exportLines(page(0, 2, 'c1'), async (c) => (asked.push(c), pages[c]!), 'trace-1'),
      ),
    );
    expect(asked).toEqual(['c1', 'c2']);
    const lines = out.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l).audit_id)).toEqual([
      'id-0',
      'id-1',
      'id-2',
      'id-3',
      'id-4',
    ]);
  });

  it('fetches a page only when the reader wants more', async () => {
    let fetched = 0;
    const lines = exportLines(page(0, 1, 'c'), async () => (fetched++, page(1, 2, 'c')), 'trace-1');
    await lines.next();
    await lines.next();
    await lines.next();
    expect(fetched).toBe(2);
    await lines.return(undefined);
  });

  it('ends with an error line when a page fails after the first', async () => {
    const out = await text(
      Readable.from(
        exportLines(
          page(0, 2, 'c1'),
          async () => {
            throw new GatewayError(
              'AUDIT.STORE_UNAVAILABLE',
              'the audit store (PostgreSQL) is unavailable; retry later',
            );
          },
          'trace-9',
        ),
      ),
    );
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[2]).toEqual({
      error: { code: 'AUDIT.STORE_UNAVAILABLE', message: expect.stringContaining('retry later') },
      trace_id: 'trace-9',
    });
    expect(lines[2].audit_id).toBeUndefined();
  });

  it('never writes the message of an unexpected error', async () => {
    const out = await text(
      Readable.from(
        exportLines(
          page(0, 1, 'c1'),
          async () => Promise.reject(new Error('password=hunter2')),
          't',
        ),
      ),
    );
    expect(out).not.toContain('hunter2');
    expect(out).toContain('GATEWAY.INTERNAL');
  });

  it('writes nothing for an export that matches no record', async () => {
    expect(
      await text(Readable.from(exportLines(page(0, 0, null), async () => page(0, 0, null), 't'))),
    ).toBe('');
  });
});
