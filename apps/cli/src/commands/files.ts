import { readFile } from 'node:fs/promises';
import { text } from 'node:stream/consumers';
import { UsageError } from '../exit-codes.js';
import { printable } from '../format.js';

/** A file's text, or standard input for `-`; a file that cannot be read is a usage error. */
export async function readInput(
  path: string,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<string> {
  if (path === '-') return text(stdin);
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (code ?? String(err));
    throw new UsageError(`cannot read ${JSON.stringify(printable(path))}: ${why}`);
  }
}

/** A JSON file's value; text that is not JSON is a usage error naming the file. */
export async function readJsonInput(path: string): Promise<unknown> {
  const raw = await readInput(path);
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw new UsageError(
      `${JSON.stringify(printable(path))} is not JSON: ${printable((err as Error).message)}`,
    );
  }
}
