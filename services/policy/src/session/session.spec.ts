import { scoreSession } from './session.service.js';

describe('scoreSession (seed 000)', () => {
  it.each([
    [{ calls: 1, writes: 0, denials: 0 }, 0],
    [{ calls: 6, writes: 0, denials: 0 }, 0.2],
    [{ calls: 1, writes: 1, denials: 0 }, 0.3],
    [{ calls: 1, writes: 0, denials: 1 }, 0.2],
    [{ calls: 9, writes: 2, denials: 3 }, 0.7],
  ])('%o scores %d', (state, expected) => {
    expect(scoreSession(state)).toBe(expected);
  });
});
