import fastifyStatic from '@fastify/static';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { GatewayError } from '@sg/contracts';
import type { Logger } from '@sg/runtime';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ErrorAnswers } from '../http/error-answer.js';

/**
 * The dashboard's Content-Security-Policy: its own scripts, styles, images and API only. No
 * inline script, no eval, no other origin (so it works air-gapped, and an injected string
 * cannot run), and no framing. The only inline style allowed is an element carrying this
 * response's nonce (the code editor's own stylesheet); no style attribute in markup.
 */
export function dashCsp(styleNonce?: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    styleNonce ? `style-src 'self' 'nonce-${styleNonce}'` : "style-src 'self'",
    "style-src-attr 'none'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The placeholder in the built index.html that each response replaces with its nonce. */
const NONCE_PLACEHOLDER = '__SG_STYLE_NONCE__';

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

/** Where the built dashboard is: DASH_DIR, else the workspace package @sg/dash's dist/. */
export function dashboardDir(configured: string | undefined): string {
  if (configured) return configured;
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@sg/dash/package.json')), 'dist');
  } catch {
    return '';
  }
}

/**
 * Serves the single-page app at /dash: hashed assets from its dist/ (cached for a year), and
 * its HTML shell for every other /dash path (the app routes in the browser). /dash/api/* is
 * the API (the session routes); an unknown one is a JSON 404, as is a missing asset.
 */
export async function serveDashboard(
  app: NestFastifyApplication,
  dir: string,
  errors: ErrorAnswers,
  traceIdOf: (req: FastifyRequest) => string,
  logger: Logger,
): Promise<void> {
  const index = dir ? join(dir, 'index.html') : '';
  const built = index !== '' && existsSync(index);
  const fastify = app.getHttpAdapter().getInstance();
  const refuse = (req: FastifyRequest, reply: FastifyReply, err: GatewayError) =>
    errors.send(reply, err, traceIdOf(req));

  if (!built) {
    logger.warn(
      { dir },
      'the dashboard is not built: /dash answers 503 (npm run build builds apps/dash)',
    );
    const notBuilt = (req: FastifyRequest, reply: FastifyReply) =>
      refuse(
        req,
        reply,
        new GatewayError(
          'GATEWAY.DASHBOARD_NOT_BUILT',
          'this gateway has no built dashboard: run `npm run build`, or set DASH_DIR to its dist directory',
        ),
      );
    fastify.get('/dash', notBuilt);
    fastify.get('/dash/*', notBuilt);
    return;
  }

  const shell = readFileSync(index, 'utf8');
  if (!shell.includes(NONCE_PLACEHOLDER))
    logger.warn(
      { index },
      `the dashboard's index.html has no ${NONCE_PLACEHOLDER}: its editor will be unstyled`,
    );
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/dash/',
    // One route per built file, so the shell's wildcard below never shadows an asset.
    wildcard: false,
    index: false,
    serveDotFiles: false,
    decorateReply: false,
    cacheControl: false,
    setHeaders: (res, path) => {
      res.headers({ ...SECURITY_HEADERS, 'content-security-policy': dashCsp() });
      res.header(
        'cache-control',
        path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
  const sendShell = (req: FastifyRequest, reply: FastifyReply) => {
    const path = (req.url.split('?')[0] ?? '').slice('/dash'.length);
    // An API path or a file name that is not built is not a page of the app.
    if (path.startsWith('/api/') || /\.[a-z0-9]+$/i.test(path))
      return refuse(
        req,
        reply,
        new GatewayError('REQUEST.NOT_FOUND', `no such route: GET /dash${path.slice(0, 200)}`),
      );
    const nonce = randomBytes(18).toString('base64');
    return reply
      .status(200)
      .headers({
        ...SECURITY_HEADERS,
        'content-security-policy': dashCsp(nonce),
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
      })
      .send(shell.replace(NONCE_PLACEHOLDER, nonce));
  };
  fastify.get('/dash', sendShell);
  fastify.get('/dash/*', sendShell);
}
