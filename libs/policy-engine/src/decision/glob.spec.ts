import fc from 'fast-check';
import picomatch from 'picomatch';
import { compileGlobs } from './glob.js';

const segment = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,8}$/);
const toolName = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('.'));

describe('compileGlobs', () => {
  it('matches the seed examples', () => {
    const g = compileGlobs(['calendar.*']);
    expect(g.firstMatch('calendar.list_events')).toBe(0);
    expect(g.firstMatch('calendar.events.list')).toBe(0);
    expect(g.firstMatch('db.write_sensitive')).toBe(-1);
    expect(g.firstMatch('calendarx.list')).toBe(-1);
  });

  it('reports the first matching pattern', () => {
    expect(compileGlobs(['db.*', '*', 'calendar.*']).firstMatch('calendar.x')).toBe(1);
  });

  it('treats ! and braces literally, never as negation or expansion', () => {
    expect(compileGlobs(['!db.*']).firstMatch('calendar.x')).toBe(-1);
    expect(compileGlobs(['{calendar,db}.*']).firstMatch('db.x')).toBe(-1);
  });

  it('matches every name with *, and each name with itself', () => {
    fc.assert(
      fc.property(toolName, (name) => {
        expect(compileGlobs(['*']).firstMatch(name)).toBe(0);
        expect(compileGlobs([name]).firstMatch(name)).toBe(0);
      }),
    );
  });

  it('answers as picomatch itself does, fast paths included', () => {
    const piece = fc.constantFrom('*', '?', '.', 'a', 'b', 'cal', '_', '-', '[ab]');
    const pattern = fc.array(piece, { minLength: 1, maxLength: 6 }).map((p) => p.join(''));
    // Only real tool names: dotted segments that start with a letter or digit.
    const seg = fc
      .tuple(
        fc.constantFrom('a', 'b', 'cal', 'x'),
        fc.array(fc.constantFrom('a', 'b', '_', '-', 'x'), { maxLength: 3 }),
      )
      .map(([h, t]) => h + t.join(''));
    const name = fc.array(seg, { minLength: 1, maxLength: 3 }).map((p) => p.join('.'));
    fc.assert(
      fc.property(pattern, name, (p, n) => {
        const reference = picomatch(p, {
          dot: true,
          nonegate: true,
          noextglob: true,
          nobrace: true,
        })(n);
        expect(compileGlobs([p]).firstMatch(n) === 0).toBe(reference);
      }),
      { numRuns: 2000 },
    );
  });

  it('matches prefix.* exactly for names under that prefix', () => {
    fc.assert(
      fc.property(segment, toolName, toolName, (prefix, rest, other) => {
        const g = compileGlobs([`${prefix}.*`]);
        expect(g.firstMatch(`${prefix}.${rest}`)).toBe(0);
        if (!other.startsWith(`${prefix}.`)) expect(g.firstMatch(other)).toBe(-1);
      }),
    );
  });

  it("lets * cross the '/' of a peer's tool, in the fast paths and in picomatch's alike", () => {
    const remote = 'gw-b/calendar.list_events';
    for (const p of ['*', 'gw-b/*', 'gw-?/*', '*/calendar.*', 'gw-b/cal?ndar.*', 'g*s'])
      expect([p, compileGlobs([p]).firstMatch(remote)]).toEqual([p, 0]);
    for (const p of ['calendar.*', 'gw-c/*', 'gw-?/db.*', '*/db.*'])
      expect([p, compileGlobs([p]).firstMatch(remote)]).toEqual([p, -1]);
  });
});
