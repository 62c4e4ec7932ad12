import { parseArgs } from 'node:util';
import type { Command, Input, OptionSpec } from './commands/command.js';
import { UsageError } from './exit-codes.js';
import { printable } from './format.js';

/** Options every command takes (and the only ones that may come before the command's words). */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: {
    type: 'string',
    value: 'URL',
    help: 'the gateway (ingress); default $SG_URL, else http://127.0.0.1:8080',
  },
  json: { type: 'boolean', help: "print the gateway's JSON answer instead of text" },
  timeout: {
    type: 'string',
    value: 'SECONDS',
    help: 'longest wait for an answer (default 70: a verification or simulation may take 60)',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

/** Flags someone might try in order to pass a secret: refused with the reason, never echoed. */
const SECRET_FLAGS = new Set([
  '--key',
  '--admin-key',
  '--api-key',
  '--token',
  '--bearer',
  '--password',
  '--secret',
]);

/** Where the command line points: a command, a group's help, or the top-level help/version. */
export type Target =
  | { kind: 'command'; command: Command; rest: string[] }
  | { kind: 'group'; group: string; rest: string[] }
  | { kind: 'top'; rest: string[] };

const VALUE_GLOBALS = new Set(['--url', '--timeout']);

/**
 * Finds the command's words: the first tokens that are neither options nor the values of the
 * global options that take one. Everything else is left for the command's own parser.
 */
export function resolveCommand(argv: string[], commands: Command[]): Target {
  const words: number[] = [];
  for (let i = 0; i < argv.length && words.length < 2; i++) {
    const token = argv[i]!;
    if (token === '--') break;
    if (token.startsWith('-')) {
      if (VALUE_GLOBALS.has(token)) i++;
      continue;
    }
    words.push(i);
    // A one-word command (`trace`, `simulate`) ends the search: its argument is no command word.
    if (words.length === 1 && commands.some((c) => c.name === token)) break;
  }
  const without = (drop: number[]) => argv.filter((_, i) => !drop.includes(i));
  const [first, second] = words.map((i) => argv[i]!);
  if (first === undefined) return { kind: 'top', rest: argv };
  const single = commands.find((c) => c.name === first);
  if (single) return { kind: 'command', command: single, rest: without(words.slice(0, 1)) };
  const inGroup = commands.filter((c) => c.name.startsWith(`${first} `));
  if (inGroup.length === 0)
    throw new UsageError(`unknown command ${JSON.stringify(printable(first))}`, [
      `commands: ${[...new Set(commands.map((c) => c.name.split(' ')[0]))].join(', ')}; see sg --help`,
    ]);
  const command = inGroup.find((c) => c.name === `${first} ${second}`);
  if (command) return { kind: 'command', command, rest: without(words) };
  if (second === undefined) return { kind: 'group', group: first, rest: without(words) };
  throw new UsageError(`unknown command "${first} ${printable(second)}"`, [
    `${first} has: ${inGroup.map((c) => c.name.split(' ')[1]).join(', ')}; see sg ${first} --help`,
  ]);
}

/**
 * The command's arguments and options, with the globals, checked: unknown options, missing
 * values, too many or too few arguments, missing required options are usage errors.
 * `help: true` skips the checks of what is required, since the help is all that runs.
 */
export function parseCommandLine(
  rest: string[],
  command: Pick<Command, 'name' | 'args' | 'options'> | null,
): Input {
  const specs = { ...GLOBAL_OPTIONS, ...(command?.options ?? {}) };
  const where = command?.name ? `sg ${command.name}` : 'sg';
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: rest,
      options: Object.fromEntries(
        Object.entries(specs).map(([name, s]) => [
          name,
          { type: s.type, ...(s.short ? { short: s.short } : {}) },
        ]),
      ),
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw usageOf(err, where);
  }
  const opts = parsed.values as Input['opts'];
  const positionals = parsed.positionals;
  if (opts.help) return { args: {}, opts };
  const names = command?.args ?? [];
  if (positionals.length > names.length)
    throw new UsageError(
      `unexpected argument ${JSON.stringify(printable(positionals[names.length]!))}: ${where} takes ${names.length ? names.map((n) => `<${n}>`).join(' ') : 'none'}`,
      [`usage: see ${where} --help`],
    );
  const missing = names.slice(positionals.length);
  if (missing.length)
    throw new UsageError(`<${missing[0]}> is missing`, [`usage: see ${where} --help`]);
  for (const [name, spec] of Object.entries(command?.options ?? {}))
    if (spec.required && opts[name] === undefined)
      throw new UsageError(`--${name} is required`, [`usage: see ${where} --help`]);
  return { args: Object.fromEntries(names.map((n, i) => [n, positionals[i]!])), opts };
}

function usageOf(err: unknown, where: string): UsageError {
  const e = err as { code?: string; message?: string };
  const unknown = /Unknown option '([^']+)'/.exec(e.message ?? '')?.[1];
  if (unknown && SECRET_FLAGS.has(unknown.split('=')[0]!))
    return new UsageError(
      `${unknown} is not an option: sg never takes a secret on the command line (it would land in shell history and ps)`,
      ['set SG_ADMIN_KEY (an admin key) or SG_TOKEN (an admin OIDC token) in the environment'],
    );
  if (unknown)
    return new UsageError(`unknown option ${printable(unknown)} for ${where}`, [
      `usage: see ${where} --help`,
    ]);
  return new UsageError(printable(e.message ?? String(err)), [`usage: see ${where} --help`]);
}

/** A string option's value, when given. */
export function str(input: Input, name: string): string | undefined {
  const v = input.opts[name];
  return typeof v === 'string' ? v : undefined;
}

/** A string option that must be there (the command's spec marks it required). */
export function required(input: Input, name: string): string {
  const v = str(input, name);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

/** A whole number option within [min, max]. */
export function int(input: Input, name: string, min: number, max: number): number | undefined {
  const raw = str(input, name);
  if (raw === undefined) return undefined;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max)
    throw new UsageError(
      `--${name} must be a whole number from ${min} to ${max}; got ${JSON.stringify(printable(raw))}`,
    );
  return Number(raw);
}

/** One of a fixed set of values. */
export function choice<T extends string>(
  input: Input,
  name: string,
  values: readonly T[],
): T | undefined {
  const raw = str(input, name);
  if (raw === undefined) return undefined;
  if (!(values as readonly string[]).includes(raw))
    throw new UsageError(
      `--${name} must be one of ${values.join(', ')}; got ${JSON.stringify(printable(raw))}`,
    );
  return raw as T;
}

/**
 * A time for a JSON body (the simulation's window), which takes only ISO 8601 times with a zone:
 * a bare date is midnight UTC, as in the query strings.
 */
export function isoTime(input: Input, name: string): string | undefined {
  const raw = str(input, name);
  if (raw === undefined) return undefined;
  const value = /^\d{4}-\d{2}-\d{2}$/.test(raw) ? `${raw}T00:00:00Z` : raw;
  if (!/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.test(value) || isNaN(Date.parse(value)))
    throw new UsageError(
      `--${name} must be an ISO 8601 time with a zone (2026-05-01T00:00:00Z) or a date (2026-05-01); got ${JSON.stringify(printable(raw))}`,
    );
  return value;
}
