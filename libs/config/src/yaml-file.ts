import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';

/** A config file that cannot be used, located precisely enough to fix it. */
export class ConfigFileError extends Error {
  override name = 'ConfigFileError';
  constructor(
    readonly file: string,
    readonly line: number | null,
    readonly column: number | null,
    readonly reason: string,
  ) {
    super(`${file}${line === null ? '' : `:${line}:${column ?? 1}`}: ${reason}`);
  }
}

/** Parses YAML (or JSON, which is YAML) and validates it, naming file, line and column of the first problem. */
export function parseConfigText<T extends z.ZodType>(
  file: string,
  text: string,
  schema: T,
): z.infer<T> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const pos = lineCounter.linePos(yamlError.pos[0]);
    throw new ConfigFileError(
      file,
      pos.line,
      pos.col,
      yamlError.message.split('\n')[0] ?? 'invalid YAML',
    );
  }
  const result = schema.safeParse(doc.toJS());
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  // Point at the deepest node that exists on the issue's path.
  let path = issue.path as (string | number)[];
  let node: unknown = undefined;
  while (path.length > 0 && !(node = doc.getIn(path, true))) path = path.slice(0, -1);
  const range = (node as { range?: [number, number, number] } | undefined)?.range;
  const pos = range ? lineCounter.linePos(range[0]) : null;
  const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
  throw new ConfigFileError(file, pos?.line ?? null, pos?.col ?? null, `${where}${issue.message}`);
}

export function loadConfigFile<T extends z.ZodType>(file: string, schema: T): z.infer<T> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigFileError(
      file,
      null,
      null,
      `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  return parseConfigText(file, text, schema);
}
