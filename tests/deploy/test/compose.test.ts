import { join } from 'node:path';
import { composeErrors, readCompose } from '../src/compose-schema.js';
import { ROOT } from './support.js';

type Compose = { services: Record<string, Record<string, unknown>> };

const compose = () => readCompose(join(ROOT, 'docker-compose.yml')) as Compose;

describe('docker-compose.yml', () => {
  it('is valid by the Compose Specification JSON Schema', () => {
    const doc = compose();
    expect(Object.keys(doc.services)).toEqual(
      expect.arrayContaining(['nats', 'redis', 'postgres', 'ingress', 'federation']),
    );
    expect(composeErrors(doc)).toEqual([]);
  });

  it.each<[string, (doc: Compose) => void, string]>([
    [
      'a misspelt service field',
      (doc) => (doc.services.policy!.restrat = 'always'),
      '/services/policy: must NOT have additional properties (restrat)',
    ],
    [
      'a healthcheck interval that is no duration',
      (doc) =>
        ((doc.services.ingress!.healthcheck as { interval: string }).interval = '10 seconds'),
      '/services/ingress/healthcheck/interval: must match format "duration"',
    ],
    [
      'a depends_on condition Compose does not know',
      (doc) => (doc.services.audit!.depends_on = { nats: { condition: 'service_ready' } }),
      '/services/audit/depends_on',
    ],
    [
      'environment as a number',
      (doc) => (doc.services.executor!.environment = 3),
      '/services/executor/environment',
    ],
  ])('refuses %s', (_name, breakIt, message) => {
    const doc = compose();
    breakIt(doc);
    expect(composeErrors(doc).join('\n')).toContain(message);
  });
});
