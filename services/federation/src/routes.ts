import {
  catalogueQuerySchema,
  catalogueSchema,
  forwardRequestSchema,
  gatewayIdSchema,
  toolCallAnswerSchema,
} from '@sg/contracts';
import { type HttpRoute, openApiDocument, serviceRoutes } from '@sg/runtime';
import { z } from 'zod';

/** A peer's call answered: the tool call's answer, and which gateway answered it. */
const forwardAnswerSchema = toolCallAnswerSchema.extend({ gateway: gatewayIdSchema });

/** Every HTTP route of the federation service (docs/federation.md), as its handlers validate and answer. */
export const FEDERATION_ROUTES: readonly HttpRoute[] = [
  {
    method: 'post',
    path: '/forward',
    summary: "A trusted peer's tool call, governed here as agent `<peer>/<agent>`",
    tag: 'federation',
    auth: 'peer',
    body: forwardRequestSchema,
    answers: {
      200: { description: 'The call ran: its result', schema: forwardAnswerSchema },
      202: { description: 'It waits for a person to approve it', schema: forwardAnswerSchema },
      403: { description: 'Denied here, and why', schema: forwardAnswerSchema },
      429: { description: 'A rate limit (Retry-After)', schema: forwardAnswerSchema },
    },
  },
  {
    method: 'get',
    path: '/federation/tools',
    summary: 'The tools this gateway lets the calling peer use in a project, with their schemas',
    tag: 'federation',
    auth: 'peer',
    query: catalogueQuerySchema,
    answers: { 200: { description: 'The catalogue', schema: catalogueSchema } },
  },
  {
    method: 'get',
    path: '/federation/ping',
    summary: "A peer's signed health probe",
    tag: 'federation',
    auth: 'peer',
    answers: {
      200: {
        description: 'This gateway, the peer as it was recognised, and the time',
        schema: z.object({ gateway: gatewayIdSchema, peer: z.string(), time: z.string() }),
      },
    },
  },
  ...serviceRoutes('federation service'),
];

export const federationOpenApi = (version: string) =>
  openApiDocument(
    {
      title: 'SecureGateway federation',
      version,
      description:
        'What trusted peer gateways call, signed with RFC 9421 HTTP message signatures (docs/federation.md). Every error is `{success: false, error: {code, message, details?}, trace_id}`.',
    },
    FEDERATION_ROUTES,
  );
