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

/** Aliases a document may expand (a "billion laughs" YAML bomb expands them exponentially). */
const MAX_ALIAS_COUNT = 100;

/**
 * Parses YAML (or JSON, which is YAML) and validates it against `schema`: the value, or every
 * problem found, each located (file, line, column) precisely enough to fix it. YAML errors come
 * first; only a document that parses is validated. Duplicate keys and custom tags (`!!js/…`)
 * are errors; aliases are expanded at most MAX_ALIAS_COUNT times.
 */
export function lintConfigText<T extends z.ZodType>(
  file: string,
  text: string,
  schema: T,
): { ok: true; value: z.infer<T> } | { ok: false; problems: ConfigFileError[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) =>
    offset === undefined ? null : lineCounter.linePos(offset);
  if (doc.errors.length || doc.warnings.length) {
    // The yaml library reports an unknown tag as a warning and resolves it as a string: refused.
    return {
      ok: false,
      problems: [...doc.errors, ...doc.warnings].map((e) => {
        const pos = at(e.pos[0]);
        return new ConfigFileError(
          file,
          pos?.line ?? null,
          pos?.col ?? null,
          e.message.split('\n')[0] ?? 'invalid YAML',
        );
      }),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    return {
      ok: false,
      problems: [new ConfigFileError(file, null, null, (err as Error).message.split('\n')[0]!)],
    };
  }
  const result = schema.safeParse(data);
  if (result.success) return { ok: true, value: result.data };
  return {
    ok: false,
    problems: result.error.issues.map((issue) => {
      // Point at the deepest node that exists on the issue's path.
      let path = issue.path as (string | number)[];
      let node: unknown = undefined;
      while (path.length > 0 && !(node = doc.getIn(path, true))) path = path.slice(0, -1);
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      const pos = range ? lineCounter.linePos(range[0]) : null;
      const where = issue.path.length ? `${issue.path.join('.')}: ` : '';
      return new ConfigFileError(
        file,
        pos?.line ?? null,
        pos?.col ?? null,
        `${where}${issue.message}`,
      );
    }),
  };
}

/** Parses and validates a config file's text (lintConfigText); throws its first problem. */
export function parseConfigText<T extends z.ZodType>(
  file: string,
  text: string,
  schema: T,
): z.infer<T> {
  const linted = lintConfigText(file, text, schema);
  if (!linted.ok) throw linted.problems[0]!;
  return linted.value;
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
