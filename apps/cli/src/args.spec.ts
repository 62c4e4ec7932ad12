import fc from 'fast-check';
import { choice, int, isoTime, parseCommandLine, resolveCommand } from './args.js';
import type { Command, Input } from './commands/command.js';
import { COMMANDS } from './commands/index.js';
import { UsageError } from './exit-codes.js';

const named = (name: string) => COMMANDS.find((c) => c.name === name)!;
const input = (opts: Input['opts']): Input => ({ args: {}, opts });

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return [(err as UsageError).message, ...(err as UsageError).more].join('\n');
  }
  throw new Error('no usage error');
}

describe('resolveCommand', () => {
  it('finds a two-word command, with global options before it', () => {
    const t = resolveCommand(
      ['--url', 'http://gw:8080', '--json', 'policy', 'history', '--project', 'policy'],
      COMMANDS,
    );
    expect(t).toMatchObject({ kind: 'command', command: { name: 'policy history' } });
    expect(t.rest).toEqual(['--url', 'http://gw:8080', '--json', '--project', 'policy']);
  });

  it('finds a one-word command whose argument looks like a command word', () => {
    const t = resolveCommand(['trace', 'policy'], COMMANDS);
    expect(t).toMatchObject({ kind: 'command', command: { name: 'trace' }, rest: ['policy'] });
  });

  it('answers a group without its command, and the top level without words', () => {
    expect(resolveCommand(['approvals', '--help'], COMMANDS)).toEqual({
      kind: 'group',
      group: 'approvals',
      rest: ['--help'],
    });
    expect(resolveCommand(['--version'], COMMANDS)).toEqual({ kind: 'top', rest: ['--version'] });
  });

  it('refuses unknown commands, naming those that exist', () => {
    expect(usageMessage(() => resolveCommand(['polcy'], COMMANDS))).toMatch(
      /unknown command "polcy"\ncommands: policy, audit, approvals, trace, simulate/,
    );
    expect(usageMessage(() => resolveCommand(['audit', 'verfy'], COMMANDS))).toMatch(
      /unknown command "audit verfy"\naudit has: verify, export/,
    );
  });
});

describe('parseCommandLine', () => {
  it('names the positional arguments and keeps the options', () => {
    expect(
      parseCommandLine(
        ['3f0c', '--project', 'default', '--reason', 'undo it', '--json'],
        named('policy rollback'),
      ),
    ).toEqual({
      args: { version_id: '3f0c' },
      opts: { project: 'default', reason: 'undo it', json: true },
    });
  });

  it.each([
    [['policy history'], [], /--project is required/],
    [['policy rollback'], ['--project', 'p', '--reason', 'r'], /<version_id> is missing/],
    [['trace'], ['a1b2c3d4', 'extra'], /unexpected argument "extra": sg trace takes <trace_id>/],
    [['approvals list'], ['--status'], /argument missing/],
    [['approvals list'], ['--nope'], /unknown option --nope for sg approvals list/],
    [['audit verify'], ['--project', 'p', '--json=yes'], /does not take an argument/],
  ])('refuses %j %j', ([name], argv, message) => {
    expect(usageMessage(() => parseCommandLine(argv, named(name!)))).toMatch(message);
  });

  it('skips the checks of what is required when the help is asked for', () => {
    expect(parseCommandLine(['-h'], named('policy rollback')).opts.help).toBe(true);
  });

  it('refuses a secret as a flag without ever repeating it', () => {
    for (const flag of ['--key', '--admin-key', '--token', '--api-key', '--password'])
      for (const argv of [[`${flag}=hunter2-secret`], [flag, 'hunter2-secret']]) {
        const message = usageMessage(() =>
          parseCommandLine(['--project', 'p', ...argv], named('audit verify')),
        );
        expect(message).toContain('never takes a secret on the command line');
        expect(message).toContain('SG_ADMIN_KEY');
        expect(message).not.toContain('hunter2');
      }
  });

  it('never throws anything but a usage error, whatever the arguments', () => {
    const commands: Command[] = COMMANDS;
    fc.assert(
      fc.property(
        fc.constantFrom(...commands),
        fc.array(fc.oneof(fc.string(), fc.constantFrom('--project', '--json', '-o', '--')), {
          maxLength: 6,
        }),
        (command, argv) => {
          try {
            parseCommandLine(argv, command);
          } catch (err) {
            expect(err).toBeInstanceOf(UsageError);
          }
        },
      ),
    );
  });
});

describe('option values', () => {
  it('takes whole numbers within their bounds only', () => {
    expect(int(input({ limit: '20' }), 'limit', 1, 200)).toBe(20);
    expect(int(input({}), 'limit', 1, 200)).toBeUndefined();
    for (const bad of ['0', '201', '-1', '1.5', '1e3', 'ten', ''])
      expect(usageMessage(() => int(input({ limit: bad }), 'limit', 1, 200))).toContain(
        '--limit must be a whole number from 1 to 200',
      );
  });

  it('takes one of a set of values', () => {
    expect(choice(input({ kind: 'policies' }), 'kind', ['policies', 'model_keys'])).toBe(
      'policies',
    );
    expect(usageMessage(() => choice(input({ kind: 'tools' }), 'kind', ['policies']))).toBe(
      '--kind must be one of policies; got "tools"',
    );
  });

  it('takes an ISO time with its zone, or a date as midnight UTC', () => {
    expect(isoTime(input({ from: '2026-05-01' }), 'from')).toBe('2026-05-01T00:00:00Z');
    expect(isoTime(input({ from: '2026-05-01T10:00:00+02:00' }), 'from')).toBe(
      '2026-05-01T10:00:00+02:00',
    );
    for (const bad of ['2026-05-01T10:00:00', 'yesterday', '2026-13-01', '1714550400'])
      expect(usageMessage(() => isoTime(input({ from: bad }), 'from'))).toContain(
        '--from must be an ISO 8601 time with a zone',
      );
  });
});
