import fc from 'fast-check';
import { brief, cell, clip, plural, printable, shortTime, table } from './format.js';

describe('table', () => {
  it('aligns each column to its widest cell, two spaces apart, without trailing spaces', () => {
    expect(
      table(
        ['ID', 'KIND', 'REASON'],
        [
          ['a', 'policies', 'first'],
          ['bbbb', 'model_keys', ''],
        ],
      ),
    ).toBe(['ID    KIND        REASON', 'a     policies    first', 'bbbb  model_keys'].join('\n'));
  });

  it('prints the headers alone for no rows', () => {
    expect(table(['A', 'B'], [])).toBe('A  B');
  });
});

describe('printable', () => {
  it('shows control characters as escapes, so that a tool name cannot drive the terminal', () => {
    expect(printable('evil\u001b[2J\u001b]0;title\u0007name\nnext\ttab')).toBe(
      'evil\\u001b[2J\\u001b]0;title\\u0007name\\nnext\\ttab',
    );
    expect(printable('caf\u00e9 → ok')).toBe('caf\u00e9 → ok');
  });

  it('never leaves a control character, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
        // eslint-disable-next-line no-control-regex
        expect(printable(s)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      }),
    );
  });
});

describe('short values', () => {
  it('clips with an ellipsis, within the width', () => {
    expect(clip('abcdef', 4)).toBe('abc…');
    expect(clip('abc', 4)).toBe('abc');
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 50 }), (s, n) => {
        expect(clip(s, n).length).toBeLessThanOrEqual(Math.max(n, 1));
      }),
    );
  });

  it('shows null as -, objects as JSON, times without milliseconds, counts with their noun', () => {
    expect([cell(null), cell(undefined), cell(''), cell(3), cell({ a: 1 })]).toEqual([
      '-',
      '-',
      '-',
      '3',
      '{"a":1}',
    ]);
    expect(shortTime('2026-05-01T12:00:00.123Z')).toBe('2026-05-01T12:00:00Z');
    expect(shortTime(null)).toBe('-');
    expect([plural(1, 'version'), plural(2, 'version'), plural(0, 'entry', 'entries')]).toEqual([
      '1 version',
      '2 versions',
      '0 entries',
    ]);
    expect(brief({ k: 'x'.repeat(300) }, 20)).toHaveLength(20);
  });
});
