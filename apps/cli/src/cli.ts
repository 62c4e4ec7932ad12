import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { int, parseCommandLine, resolveCommand, str } from './args.js';
import type { Command, Context, Input } from './commands/command.js';
import { COMMANDS } from './commands/index.js';
import { type CliEnv, DEFAULT_URL, EnvError } from './config/env.js';
import { CliError, ExitCode } from './exit-codes.js';
import { printable } from './format.js';
import { Gateway, GatewayAnswerError, gatewayUrl, isCleartextRemote } from './gateway.js';
import { commandHelp, groupHelp, topHelp } from './help.js';

export interface Io {
  stdout: Writable;
  stderr: Writable;
  /** The environment, read when a command first needs the gateway (so --help needs none). */
  env: () => CliEnv;
  fetch?: typeof fetch;
}

/** Seconds to wait for an answer: a verification or a simulation may take the gateway 60. */
const DEFAULT_TIMEOUT_S = 70;

const TOP: Pick<Command, 'name' | 'args' | 'options'> = {
  name: '',
  args: [],
  options: { version: { type: 'boolean', help: "print sg's version" } },
};

/** Runs one command line and answers its exit status; nothing here exits the process. */
export async function run(argv: string[], io: Io): Promise<ExitCode> {
  const out = (text: string) => io.stdout.write(`${text}\n`);
  try {
    const target = resolveCommand(argv, COMMANDS);
    if (target.kind === 'top') {
      const input = parseCommandLine(target.rest, TOP);
      if (input.opts.version) {
        out(version());
        return ExitCode.Ok;
      }
      return help(io, topHelp(COMMANDS), input.opts.help === true);
    }
    if (target.kind === 'group') {
      const input = parseCommandLine(target.rest, null);
      return help(io, groupHelp(target.group, COMMANDS), input.opts.help === true);
    }
    const input = parseCommandLine(target.rest, target.command);
    if (input.opts.help) {
      out(commandHelp(target.command));
      return ExitCode.Ok;
    }
    return await target.command.run(input, contextOf(input, io));
  } catch (err) {
    return report(err, io.stderr);
  }
}

/** Help asked for goes to stdout (exit 0); help instead of a command to stderr (exit 2). */
function help(io: Io, text: string, asked: boolean): ExitCode {
  (asked ? io.stdout : io.stderr).write(`${text}\n`);
  return asked ? ExitCode.Ok : ExitCode.Usage;
}

function contextOf(input: Input, io: Io): Context {
  let gateway: Gateway | undefined;
  return {
    json: input.opts.json === true,
    stdout: io.stdout,
    stderr: io.stderr,
    print: (text) => io.stdout.write(`${text}\n`),
    printJson: (value) => io.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    gateway() {
      if (gateway) return gateway;
      const env = io.env();
      const url = gatewayUrl(str(input, 'url') ?? env.url ?? DEFAULT_URL);
      if (isCleartextRemote(url) && env.credential)
        io.stderr.write(
          `sg: warning: ${url.origin} is plain http: the credential crosses the network unencrypted; use https://\n`,
        );
      const timeoutS = int(input, 'timeout', 1, 3600) ?? DEFAULT_TIMEOUT_S;
      gateway = new Gateway(url, env.credential, timeoutS * 1000, io.fetch);
      return gateway;
    },
  };
}

/**
 * The error as `sg: CODE: message` on stderr, with the problems or hints it carries and the
 * trace id to quote to an operator; never a stack trace. Answers its exit status.
 */
export function report(err: unknown, stderr: Writable): ExitCode {
  const write = (line: string) => stderr.write(`${line}\n`);
  if (err instanceof CliError) {
    write(`sg: ${err.code ? `${printable(err.code)}: ` : ''}${printable(err.message)}`);
    for (const line of err.more) write(printable(line));
    if (err instanceof GatewayAnswerError)
      write(`  (HTTP ${err.status}${err.traceId ? `, trace_id ${printable(err.traceId)}` : ''})`);
    return err.exitCode;
  }
  if (err instanceof EnvError) {
    write(`sg: ${err.message}`);
    return ExitCode.Usage;
  }
  write(`sg: unexpected error: ${printable(err instanceof Error ? err.message : String(err))}`);
  return ExitCode.CheckFailed;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return `sg ${pkg.version}`;
}
