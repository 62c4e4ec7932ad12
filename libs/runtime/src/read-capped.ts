/**
 * Reads a body of at most `maxBytes`, counting while it reads: a chunked or unlabelled body
 * never grows past the limit in memory. Past it, the error `tooLarge()` gives is thrown.
 */
export async function readCapped(
  body: AsyncIterable<Buffer | Uint8Array>,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
