import type { Writable } from 'node:stream';
import type { ExitCode } from '../exit-codes.js';
import type { Gateway } from '../gateway.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** The value's placeholder in the help (`P`, `FILE`). */
  value?: string;
  help: string;
  required?: boolean;
}

/** What a command was given: its positional arguments by name, and its options. */
export interface Input {
  args: Record<string, string>;
  opts: Record<string, string | boolean | undefined>;
}

/** What a command runs with. */
export interface Context {
  /** The admin API; created on first use, so that --help needs no credential. */
  gateway(): Gateway;
  /** --json: print the gateway's JSON answer instead of the text for people. */
  json: boolean;
  stdout: Writable;
  stderr: Writable;
  /** Prints a line (or several) on stdout. */
  print(text: string): void;
  /** Prints a value as JSON on stdout. */
  printJson(value: unknown): void;
}

export interface Command {
  /** The words that name it: `policy lint`. */
  name: string;
  summary: string;
  /** Its positional arguments, in order, each required. */
  args: string[];
  options: Record<string, OptionSpec>;
  /** More help: examples, what exit 1 means for it. */
  notes?: string[];
  run(input: Input, ctx: Context): Promise<ExitCode>;
}
