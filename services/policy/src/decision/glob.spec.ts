import fc from 'fast-check';
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

  it('matches prefix.* exactly for names under that prefix', () => {
    fc.assert(
      fc.property(segment, toolName, toolName, (prefix, rest, other) => {
        const g = compileGlobs([`${prefix}.*`]);
        expect(g.firstMatch(`${prefix}.${rest}`)).toBe(0);
        if (!other.startsWith(`${prefix}.`)) expect(g.firstMatch(other)).toBe(-1);
      }),
    );
  });
});
