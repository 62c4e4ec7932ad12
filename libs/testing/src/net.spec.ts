import { freePort, waitFor } from './net.js';

describe('test helpers', () => {
  it('finds a port nothing listens on', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });

  it('waitFor reports what it waited for when it times out', async () => {
    await expect(waitFor(async () => undefined, 200, 'the moon')).rejects.toThrow(/the moon/);
    await expect(waitFor(async () => 42, 200)).resolves.toBe(42);
  });
});
