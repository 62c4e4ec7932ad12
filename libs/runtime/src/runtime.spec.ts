import { newTraceId, traceIdFrom, traceparentFor } from './trace.js';

describe('trace ids', () => {
  it('makes W3C trace ids and traceparents', () => {
    const id = newTraceId();
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(traceparentFor(id)).toMatch(new RegExp(`^00-${id}-[0-9a-f]{16}-01$`));
  });

  it('keeps a well-formed X-Trace-Id', () => {
    expect(traceIdFrom('trace-abc-123', undefined)).toBe('trace-abc-123');
  });

  it('takes the trace id of a valid traceparent', () => {
    const id = 'a'.repeat(32);
    expect(traceIdFrom(undefined, `00-${id}-${'b'.repeat(16)}-01`)).toBe(id);
  });

  it('never echoes a malformed value', () => {
    for (const bad of ['<script>', 'a b c d e f g h', 'x'.repeat(65), '']) {
      const id = traceIdFrom(bad, `00-${'0'.repeat(32)}-${'b'.repeat(16)}-01`);
      expect(id).not.toBe(bad);
      expect(id).toMatch(/^[0-9a-f]{32}$/);
    }
  });
});
