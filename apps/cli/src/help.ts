import { GLOBAL_OPTIONS } from './args.js';
import type { Command, OptionSpec } from './commands/command.js';

export const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0  ok',
  '  1  the check failed: lint problems, a chain or signature that does not verify, a changed',
  '     decision with --fail-on-change, an approved call that was denied or failed; also a conflict',
  '     (409), an expired approval (410) or an invalid candidate (422)',
  '  2  usage error: bad flags or arguments, a file that cannot be read, a request the gateway',
  '     refused as malformed (400)',
  '  3  authentication or permission refused (401, 403), or no credential in the environment',
  '  4  not found (404)',
  '  5  the gateway is unreachable, timed out, or answered 5xx or 429: try again later',
];

const ENV_HELP = [
  'Environment:',
  '  SG_URL        the gateway (ingress); default http://127.0.0.1:8080',
  '  SG_ADMIN_KEY  an admin key, sent as X-Admin-Key',
  '  SG_TOKEN      or an admin OIDC token, sent as Authorization: Bearer',
  'sg never takes a secret as a flag, and never prints one.',
];

function optionLines(options: Record<string, OptionSpec>): string[] {
  const rows = Object.entries(options).map(([name, s]) => [
    `${s.short ? `-${s.short}, ` : ''}--${name}${s.value ? ` ${s.value}` : ''}`,
    `${s.help}${s.required ? ' (required)' : ''}`,
  ]);
  const width = Math.max(...rows.map(([flag]) => flag!.length));
  return rows.map(([flag, help]) => `  ${flag!.padEnd(width)}  ${help}`);
}

function usageOf(c: Command): string {
  const required = Object.entries(c.options)
    .filter(([, s]) => s.required)
    .map(([n, s]) => `--${n}${s.value ? ` ${s.value}` : ''}`);
  return ['sg', c.name, ...c.args.map((a) => `<${a}>`), ...required, '[options]'].join(' ');
}

export function topHelp(commands: Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "sg: SecureGateway's admin API from a terminal or a CI job.",
    '',
    'Usage: sg <command> [arguments] [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options of every command:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    ...ENV_HELP,
    '',
    ...EXIT_CODES_HELP,
    '',
    'sg <command> --help shows the command. More: docs/cli.md',
  ].join('\n');
}

export function groupHelp(group: string, commands: Command[]): string {
  const inGroup = commands.filter((c) => c.name.startsWith(`${group} `));
  const width = Math.max(...inGroup.map((c) => c.name.length));
  return [
    `Usage: sg ${group} <command> [options]`,
    '',
    ...inGroup.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `sg ${group} <command> --help shows the command.`,
  ].join('\n');
}

export function commandHelp(c: Command): string {
  return [
    `Usage: ${usageOf(c)}`,
    '',
    `${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`,
    ...(c.notes?.length ? ['', ...c.notes] : []),
    '',
    'Options:',
    ...optionLines({ ...c.options, ...GLOBAL_OPTIONS }),
    '',
    ...ENV_HELP,
    '',
    ...EXIT_CODES_HELP,
  ].join('\n');
}
