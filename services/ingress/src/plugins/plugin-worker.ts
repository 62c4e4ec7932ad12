// One local plugin in its own worker thread (docs/plugins.md): imported once, then asked for
// each call. The host terminates the worker on a timeout and starts a new one when it is needed.
import { parentPort, workerData } from 'node:worker_threads';

type OnToolCall = (ctx: unknown, tool: string, payload: unknown) => unknown;

const port = parentPort!;
try {
  const mod = (await import((workerData as { url: string }).url)) as {
    onToolCall?: OnToolCall;
    default?: { onToolCall?: OnToolCall };
  };
  const onToolCall = mod.onToolCall ?? mod.default?.onToolCall;
  if (typeof onToolCall !== 'function') throw new Error('it exports no onToolCall function');
  port.on('message', (m: { id: number; ctx: unknown; tool: string; payload: unknown }) => {
    Promise.resolve()
      .then(() => onToolCall(m.ctx, m.tool, m.payload))
      .then(
        (out) => port.postMessage({ id: m.id, ok: true, out: out ?? null }),
        (err: unknown) =>
          port.postMessage({
            id: m.id,
            ok: false,
            error: err instanceof Error ? err.message : String(err),
          }),
      )
      .catch((err: unknown) =>
        // The answer cannot be sent (not cloneable): an error the host reports.
        port.postMessage({
          id: m.id,
          ok: false,
          error: `its answer cannot be sent: ${String(err)}`,
        }),
      );
  });
  port.postMessage({ ready: true });
} catch (err) {
  port.postMessage({ ready: false, error: err instanceof Error ? err.message : String(err) });
}
