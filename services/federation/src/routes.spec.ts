import { answerSchemaOf, declaredRoutes, HealthController } from '@sg/runtime';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ForwardModule } from './forward/forward.module.js';
import { federationOpenApi, FEDERATION_ROUTES } from './routes.js';

type Class = new (...args: never[]) => unknown;

it('documents every route the federation service declares, and no route it does not', () => {
  const controllers = [
    ...(Reflect.getMetadata('controllers', ForwardModule) as Class[]),
    HealthController as unknown as Class,
  ];
  const declared = declaredRoutes(controllers);
  const documented = FEDERATION_ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`);
  expect(new Set(documented)).toEqual(new Set([...declared, 'GET /openapi.json', 'GET /docs']));
});

it('is an OpenAPI 3.1 document whose every schema compiles', () => {
  const doc = federationOpenApi('1.0.0') as {
    openapi: string;
    paths: Record<string, Record<string, { security: unknown[] }>>;
  };
  expect(doc.openapi).toBe('3.1.0');
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node))
      if (key === 'schema' && value && typeof value === 'object')
        ajv.compile(answerSchemaOf(doc, value as Record<string, unknown>));
      else walk(value);
  };
  walk(doc.paths);
  // A peer's routes need its signature.
  expect(doc.paths['/forward']!.post!.security).toEqual([{ peerSignature: [] }]);
});
