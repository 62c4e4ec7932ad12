import { EnvError } from '@sg/config';
import { loadAnalyticsEnv } from './env.js';

describe('analytics env', () => {
  it('has its own health port and the shared NATS default', () => {
    const env = loadAnalyticsEnv({});
    expect(env.HEALTH_PORT).toBe(8095);
    expect(env.NATS_URL).toBe('nats://127.0.0.1:4222');
  });

  it('refuses a subject prefix that would break subjects', () => {
    expect(() => loadAnalyticsEnv({ SUBJECT_PREFIX: 'a.b' })).toThrow(EnvError);
    expect(() => loadAnalyticsEnv({ SUBJECT_PREFIX: 'a.b' })).toThrow(/SUBJECT_PREFIX/);
  });
});
