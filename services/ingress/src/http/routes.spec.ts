import { answerSchemaOf, declaredRoutes, HealthController } from '@sg/runtime';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { IngressModule } from '../app.module.js';
import { ingressOpenApi, INGRESS_ROUTES } from './routes.js';

type Class = new (...args: never[]) => unknown;

/** Nest's spelling of a few routes, and the OpenAPI one. */
const SPELLED = new Map([
  ['GET /schema/{file}', 'GET /schema/{tool}.json'],
  [
    'GET /.well-known/oauth-protected-resource/*',
    'GET /.well-known/oauth-protected-resource/{resource}',
  ],
]);
/** Routes served outside the Nest controllers (the dashboard's files, the document and its UI). */
const SERVED_OTHERWISE = new Set(['GET /dash/{page}', 'GET /openapi.json', 'GET /docs']);

const documented = INGRESS_ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`);

it('documents every route the ingress declares, and no route it does not', () => {
  const controllers = [
    ...(Reflect.getMetadata('controllers', IngressModule) as Class[]),
    HealthController as unknown as Class,
  ];
  const declared = declaredRoutes(controllers).map((r) => SPELLED.get(r) ?? r);
  expect(declared.length).toBeGreaterThan(40);
  expect(new Set(documented)).toEqual(new Set([...declared, ...SERVED_OTHERWISE]));
  expect(documented.length).toBe(new Set(documented).size);
});

it('is an OpenAPI 3.1 document whose every schema compiles (JSON Schema 2020-12)', () => {
  const doc = ingressOpenApi('1.2.3') as {
    openapi: string;
    info: { version: string };
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  };
  expect(doc.openapi).toBe('3.1.0');
  expect(doc.info.version).toBe('1.2.3');
  const ajv = new Ajv2020({ strict: false, validateFormats: false });
  let schemas = 0;
  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'schema' && value && typeof value === 'object') {
        ajv.compile(answerSchemaOf(doc, value as Record<string, unknown>));
        schemas++;
      } else walk(value);
    }
  };
  walk(doc.paths);
  expect(schemas).toBeGreaterThan(100);
  // Every operation answers errors in the one error shape.
  for (const ops of Object.values(doc.paths))
    for (const op of Object.values(ops)) expect(Object.keys(op.responses)).toContain('400');
});

it('documents query parameters from the parser: required ones required, each described', () => {
  const doc = ingressOpenApi('0') as {
    paths: Record<string, Record<string, { parameters?: Array<Record<string, unknown>> }>>;
  };
  const params = doc.paths['/api/audit/verify']!.get!.parameters!;
  expect(params).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ name: 'project', in: 'query', required: true }),
      expect.objectContaining({ name: 'cursor', in: 'query', required: false }),
    ]),
  );
  const limit = doc.paths['/api/audit/records']!.get!.parameters!.find((p) => p.name === 'limit')!;
  expect(limit.schema).toMatchObject({ type: 'string', description: 'an integer from 1 to 1000' });
});
