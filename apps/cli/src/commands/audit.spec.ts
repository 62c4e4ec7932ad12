import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { chainSummary, ExportLines } from './audit.js';

/** Runs `chunks` through ExportLines; answers what came out and the transform. */
async function through(chunks: Buffer[]) {
  const lines = new ExportLines();
  const out = new PassThrough();
  let text = '';
  out.setEncoding('utf8').on('data', (c: string) => (text += c));
  await pipeline(Readable.from(chunks), lines, out);
  return { text, lines };
}

const record = (i: number) =>
  JSON.stringify({ audit_id: `id-${i}`, timestamp: `2026-05-01T00:00:0${i}.000Z`, note: 'café ✓' });

describe('ExportLines', () => {
  it('passes every record through once, however the stream is cut, multi-byte characters too', async () => {
    const body = Buffer.from([0, 1, 2, 3].map((i) => `${record(i)}\n`).join(''));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: body.length - 1 }), { maxLength: 8 }),
        async (cuts) => {
          const at = [0, ...cuts.sort((a, b) => a - b), body.length];
          const chunks = at.slice(1).map((end, i) => body.subarray(at[i], end));
          const { text, lines } = await through(chunks);
          expect(text).toBe(body.toString('utf8'));
          expect(lines.records).toBe(4);
          expect(lines.error).toBeUndefined();
          expect(lines.lastTimestamp()).toBe('2026-05-01T00:00:03.000Z');
        },
      ),
      { numRuns: 60 },
    );
  });

  it('holds back the error line an interrupted export ends with', async () => {
    const error = {
      error: { code: 'AUDIT.STORE_UNAVAILABLE', message: 'the export stopped before its end' },
      trace_id: 't',
    };
    const { text, lines } = await through([
      Buffer.from(`${record(1)}\n${record(2)}\n${JSON.stringify(error)}\n`),
    ]);
    expect(text).toBe(`${record(1)}\n${record(2)}\n`);
    expect(lines.records).toBe(2);
    expect(lines.error).toEqual(error);
    expect(lines.lastTimestamp()).toBe('2026-05-01T00:00:02.000Z');
  });

  it('writes nothing for an empty export', async () => {
    const { text, lines } = await through([]);
    expect([text, lines.records, lines.lastTimestamp()]).toEqual(['', 0, undefined]);
  });
});

describe('chainSummary', () => {
  const report = {
    project: 'default',
    ok: true,
    complete: true,
    next_cursor: null,
    rows_checked: 1532,
    from_seq: 1,
    last_seq: 1532,
    head_seq: 1532,
    checkpoints_checked: 4,
    checkpoints_other_key: 0,
    first_mismatch: null,
    verified_at: '2026-05-01T12:10:00.000Z',
    requests: 2,
  };

  it('says the chain verifies, with what was checked', () => {
    expect(chainSummary(report)).toBe(
      [
        'project default: the audit chain verifies',
        '  rows checked: 1532 (chain_seq 1 to 1532; head 1532; in 2 pieces)',
        '  checkpoints: 4 checked',
      ].join('\n'),
    );
  });

  it('names the first row that does not match', () => {
    expect(
      chainSummary({
        ...report,
        ok: false,
        checkpoints_other_key: 1,
        first_mismatch: { chain_seq: 17, event_id: 'evt-17', reason: 'hash does not match' },
      }),
    ).toMatch(
      /^project default: the audit chain DOES NOT VERIFY at chain_seq 17 \(event evt-17\): hash does not match\n.*\n {2}checkpoints: 4 checked, 1 signed with another key \(not checked\)$/,
    );
  });
});
