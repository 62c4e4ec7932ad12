import { freePort, waitFor } from './net.js';

describe('test helpers', () => {
  it('finds a port nothing listens on', async () => {
    const port = await freePort();
    // Below the ephemeral range, where outgoing connections cannot take it meanwhile.
    expect(port).toBeGreaterThanOrEqual(20_000);
    expect(port).toBeLessThan(32_768);
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('waitFor reports what it waited for when it times out', async () => {
    await expect(waitFor(async () => undefined, 200, 'the moon')).rejects.toThrow(/the moon/);
    await expect(waitFor(async () => 42, 200)).resolves.toBe(42);
  });
});
