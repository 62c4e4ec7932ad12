import { ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import { samplerOf } from './tracing.js';

describe('samplerOf', () => {
  it('samples 10 % of new traces, parent-based, when no sampler is set', () => {
    const sampler = samplerOf({ OTEL_TRACES_EXPORTER: 'otlp' });
    expect(sampler).toBeInstanceOf(ParentBasedSampler);
    expect(sampler.toString()).toContain('TraceIdRatioBased{0.1}');
  });

  it.each([
    ['always_on', 'AlwaysOnSampler'],
    ['always_off', 'AlwaysOffSampler'],
    ['traceidratio', 'TraceIdRatioBased{0.25}'],
    ['parentbased_always_on', 'root=AlwaysOnSampler'],
    ['parentbased_always_off', 'root=AlwaysOffSampler'],
    ['parentbased_traceidratio', 'root=TraceIdRatioBased{0.25}'],
  ] as const)('%s is %s', (name, shown) => {
    const sampler = samplerOf({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_TRACES_SAMPLER: name,
      OTEL_TRACES_SAMPLER_ARG: 0.25,
    });
    expect(sampler.toString()).toContain(shown);
  });

  it('takes ratio 1 when traceidratio has no argument', () => {
    const sampler = samplerOf({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_TRACES_SAMPLER: 'traceidratio',
    });
    expect(sampler).toBeInstanceOf(TraceIdRatioBasedSampler);
    expect(sampler.toString()).toBe('TraceIdRatioBased{1}');
  });
});
