import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { errorBodySchema, healthReportSchema } from '@sg/contracts';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { z } from 'zod';

/** Who may call a route: the security schemes of the document. */
export type RouteAuth = 'none' | 'agent' | 'admin' | 'agent-or-admin' | 'peer' | 'dash-session';

export interface RouteAnswer {
  description: string;
  /** A schema of the document's components (`ErrorAnswer`), by reference. */
  ref?: string;
  /** The body's schema; none for an answer without a body, or one that is not JSON. */
  schema?: z.ZodType;
  /** `application/json` unless said otherwise. */
  contentType?: string;
}

/**
 * One HTTP route, described by the same zod schemas its handler validates with and answers
 * from: the OpenAPI document is generated from these, never written by hand.
 */
export interface HttpRoute {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI form: `/api/policy/versions/{id}`. */
  path: string;
  summary: string;
  tag: string;
  auth: RouteAuth;
  /** The admin permission the route needs (docs/admins.md). */
  permission?: string;
  /** Path parameters, each a string schema. */
  params?: Record<string, z.ZodType>;
  /** The query string: an object schema whose properties are the parameters. */
  query?: z.ZodObject;
  body?: z.ZodType;
  /** Headers the route reads besides its credentials (e.g. X-Project-ID). */
  headers?: Record<string, { description: string; required?: boolean }>;
  /** Its answers other than the errors every route may give (added by the builder). */
  answers: Record<number, RouteAnswer>;
}

/**
 * Every error answer of the gateway: `{success: false, error: {code, message, details?},
 * trace_id}`. A tool call's also carries its `audit_id`, and its decision when there was one.
 */
export const errorAnswerSchema = z.looseObject({
  success: z.literal(false),
  error: errorBodySchema,
  trace_id: z.string().optional(),
});

const SECURITY: Record<RouteAuth, Array<Record<string, string[]>>> = {
  none: [],
  agent: [{ agentKey: [] }, { bearer: [] }],
  admin: [{ adminKey: [] }, { bearer: [] }, { dashSession: [] }],
  'agent-or-admin': [{ agentKey: [] }, { adminKey: [] }, { bearer: [] }],
  peer: [{ peerSignature: [] }],
  'dash-session': [{ dashSession: [] }],
};

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' });
  return rest;
}

function errorsOf(route: HttpRoute): Record<number, RouteAnswer> {
  const errors: Record<number, RouteAnswer> = {
    400: { description: 'A bad request: the error code and message say how to fix it' },
    500: { description: 'An internal error (logged with its trace id)' },
    503: { description: 'A dependency of the gateway is unavailable; retry shortly' },
  };
  if (route.auth !== 'none') {
    errors[401] = { description: 'No credentials, or credentials the gateway does not accept' };
    errors[403] = { description: 'The credentials do not grant this' };
  }
  if (route.params) errors[404] = { description: 'Nothing of that id' };
  return Object.fromEntries(
    Object.entries(errors).map(([s, a]) => [s, { ...a, ref: 'ErrorAnswer' }]),
  );
}

function answerObject(a: RouteAnswer): Record<string, unknown> {
  if (a.ref)
    return {
      description: a.description,
      content: { 'application/json': { schema: { $ref: `#/components/schemas/${a.ref}` } } },
    };
  if (!a.schema) return { description: a.description };
  return {
    description: a.description,
    content: { [a.contentType ?? 'application/json']: { schema: jsonSchema(a.schema, 'output') } },
  };
}

function operation(route: HttpRoute): Record<string, unknown> {
  const parameters: unknown[] = [];
  for (const [name, schema] of Object.entries(route.params ?? {}))
    parameters.push({ name, in: 'path', required: true, schema: jsonSchema(schema, 'input') });
  if (route.query) {
    const props = (jsonSchema(route.query, 'input').properties ?? {}) as Record<string, unknown>;
    const shape = route.query.shape as Record<string, z.ZodType>;
    for (const [name, schema] of Object.entries(props))
      parameters.push({
        name,
        in: 'query',
        required: !shape[name]!.safeParse(undefined).success,
        schema,
      });
  }
  for (const [name, h] of Object.entries(route.headers ?? {}))
    parameters.push({
      name,
      in: 'header',
      required: h.required ?? false,
      description: h.description,
      schema: { type: 'string' },
    });
  const answers = { ...errorsOf(route), ...route.answers };
  return {
    summary: route.summary,
    tags: [route.tag],
    ...(route.permission ? { description: `Admin permission: \`${route.permission}\`.` } : {}),
    operationId: `${route.method}${route.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c?: string) => (c ?? '').toUpperCase())}`,
    security: SECURITY[route.auth],
    ...(parameters.length ? { parameters } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: !route.body.safeParse(undefined).success,
            content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
          },
        }
      : {}),
    responses: Object.fromEntries(
      Object.entries(answers).map(([status, a]) => [status, answerObject(a)]),
    ),
  };
}

/** The OpenAPI 3.1 document of a service's routes (its JSON Schemas are draft 2020-12). */
export function openApiDocument(
  info: { title: string; version: string; description: string },
  routes: readonly HttpRoute[],
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) (paths[r.path] ??= {})[r.method] = operation(r);
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: {
      // Every error of every operation: once here, by reference (it lists every error code).
      schemas: { ErrorAnswer: jsonSchema(errorAnswerSchema, 'output') },
      securitySchemes: {
        agentKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An agent key' },
        adminKey: {
          type: 'apiKey',
          in: 'header',
          name: 'X-Admin-Key',
          description: 'An admin key (docs/admins.md)',
        },
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'An OAuth 2.1 / OIDC access token (docs/authentication.md)',
        },
        dashSession: {
          type: 'apiKey',
          in: 'cookie',
          name: 'sg_dash',
          description: 'A dashboard session; writes also need its X-CSRF-Token',
        },
        peerSignature: {
          type: 'http',
          scheme: 'signature',
          description: 'An RFC 9421 HTTP message signature of a trusted peer (docs/federation.md)',
        },
      },
    },
  };
}

/**
 * The routes every service serves besides its own: its health and metrics (runService's
 * HealthController), and this document with its UI (serveOpenApi).
 */
export function serviceRoutes(service: string): HttpRoute[] {
  return [
    {
      method: 'get',
      path: '/healthz',
      summary: `The ${service}'s own health: its connections and config`,
      tag: 'operations',
      auth: 'none',
      answers: {
        200: { description: 'Healthy', schema: healthReportSchema },
        503: { description: 'A dependency is down', schema: healthReportSchema },
      },
    },
    {
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics (keep them off the public route)',
      tag: 'operations',
      auth: 'none',
      answers: { 200: { description: 'Prometheus text format', contentType: 'text/plain' } },
    },
    {
      method: 'get',
      path: '/openapi.json',
      summary: 'This document (OpenAPI 3.1)',
      tag: 'operations',
      auth: 'none',
      answers: { 200: { description: 'The document', schema: z.looseObject({}) } },
    },
    {
      method: 'get',
      path: '/docs',
      summary: 'This document in Swagger UI (bundled; no CDN)',
      tag: 'operations',
      auth: 'none',
      answers: { 200: { description: 'HTML', contentType: 'text/html' } },
    },
  ];
}

/**
 * Every HTTP route the Nest controllers declare, as `GET /api/policy/versions/{id}`: what a
 * service's route table is compared with, both ways.
 */
export function declaredRoutes(
  controllers: ReadonlyArray<abstract new (...args: never[]) => unknown>,
): string[] {
  const out: string[] = [];
  for (const c of controllers) {
    const base = String(Reflect.getMetadata(PATH_METADATA, c) ?? '');
    for (const name of Object.getOwnPropertyNames(c.prototype)) {
      if (name === 'constructor') continue;
      const handler = (c.prototype as Record<string, unknown>)[name];
      if (typeof handler !== 'function') continue;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
      if (method === undefined || path === undefined) continue;
      const full = `/${[base, path].filter((p) => p && p !== '/').join('/')}`
        .replace(/\/+/g, '/')
        .replace(/:([A-Za-z_]+)/g, '{$1}');
      out.push(`${RequestMethod[method]} ${full}`);
    }
  }
  return out;
}

const SWAGGER_FILES = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
} as const;

/** The page's own script: no inline script, so the CSP can stay strict. */
const INIT_JS = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`;
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>SecureGateway API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;
/** Swagger UI sets style attributes, so styles may be inline; scripts may not. */
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Serves `document` at GET /openapi.json and Swagger UI at GET /docs, bundled from
 * swagger-ui-dist (nothing from a CDN: it works air-gapped).
 */
export function serveOpenApi(app: NestFastifyApplication, document: Record<string, unknown>) {
  const fastify = app.getHttpAdapter().getInstance();
  const json = JSON.stringify(document);
  const dist = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  const security = {
    'content-security-policy': DOCS_CSP,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  };
  fastify.get('/openapi.json', (_req, reply) =>
    reply
      .headers({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' })
      .send(json),
  );
  const page = (_req: unknown, reply: { headers(h: object): { send(b: string): unknown } }) =>
    reply.headers({ ...security, 'content-type': 'text/html; charset=utf-8' }).send(PAGE);
  fastify.get('/docs', page);
  fastify.get('/docs/', page);
  fastify.get('/docs/init.js', (_req, reply) =>
    reply
      .headers({ ...security, 'content-type': SWAGGER_FILES['swagger-ui-bundle.js'] })
      .send(INIT_JS),
  );
  for (const [file, type] of Object.entries(SWAGGER_FILES)) {
    const body = readFileSync(join(dist, file));
    fastify.get(`/docs/${file}`, (_req, reply) =>
      reply
        .headers({ ...security, 'content-type': type, 'cache-control': 'public, max-age=3600' })
        .send(body),
    );
  }
}

/**
 * An answer's schema from `document`, its `#/components/schemas/…` reference resolved: what a
 * JSON Schema validator compiles on its own.
 */
export function answerSchemaOf(
  document: Record<string, unknown>,
  schema: Record<string, unknown>,
): Record<string, unknown> {
  const ref = schema.$ref;
  if (typeof ref !== 'string' || !ref.startsWith('#/components/schemas/')) return schema;
  const components = (document.components as { schemas: Record<string, Record<string, unknown>> })
    .schemas;
  const found = components[ref.slice('#/components/schemas/'.length)];
  if (!found) throw new Error(`${ref} is not in the document`);
  return found;
}
