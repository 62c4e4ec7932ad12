import fc from 'fast-check';
import { ExitCode, exitCodeForStatus } from './exit-codes.js';

describe('exitCodeForStatus', () => {
  it.each([
    [200, ExitCode.Ok],
    [201, ExitCode.Ok],
    [400, ExitCode.Usage],
    [413, ExitCode.Usage],
    [415, ExitCode.Usage],
    [401, ExitCode.Auth],
    [403, ExitCode.Auth],
    [404, ExitCode.NotFound],
    [409, ExitCode.CheckFailed],
    [410, ExitCode.CheckFailed],
    [422, ExitCode.CheckFailed],
    [429, ExitCode.Unavailable],
    [500, ExitCode.Unavailable],
    [502, ExitCode.Unavailable],
    [503, ExitCode.Unavailable],
    [504, ExitCode.Unavailable],
  ])('maps HTTP %i to exit %i', (status, code) => {
    expect(exitCodeForStatus(status)).toBe(code);
  });

  it('gives every error status one of the documented non-zero codes, and every 5xx 5', () => {
    fc.assert(
      fc.property(fc.integer({ min: 400, max: 599 }), (status) => {
        const code = exitCodeForStatus(status);
        expect([1, 2, 3, 4, 5]).toContain(code);
        if (status >= 500) expect(code).toBe(ExitCode.Unavailable);
      }),
    );
  });
});
