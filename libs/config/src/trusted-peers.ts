import { GATEWAY_ID_PATTERN, PROJECT_ID_PATTERN } from '@sg/contracts';
import { z } from 'zod';
import { globList, keyIdSchema, resilienceShape, SECRET_REFERENCE } from './primitives.js';

/** A gateway's id among its peers (`self`, the keys of `peers`, the entries of a via chain). */
const peerIdSchema = z
  .string()
  .regex(
    GATEWAY_ID_PATTERN,
    'lower-case letters, digits, _ and - (1-63), starting with a letter or digit',
  );

/** One trusted peer gateway: where it is, the key of the pair, what it may call here. */
export const trustedPeerSchema = z
  .strictObject({
    /** The peer's `POST /forward` URL. https, or http to a loopback address (FEDERATION_ALLOW_HTTP widens it). */
    url: z.string().regex(/^https?:\/\/[^\s]+$/, 'an http(s) URL'),
    /** The key id of this pair (the signature's `keyid`, both ways). Unique in the file. */
    key_id: keyIdSchema,
    /**
     * HMAC-SHA256: the key both gateways share, as a `{{secret:NAME}}` reference. An inline
     * value is refused unless FEDERATION_ALLOW_INLINE_KEYS is on (development only).
     */
    key: z
      .string()
      .refine(
        (v) => SECRET_REFERENCE.test(v) || v.length >= 16,
        'an inline key needs at least 16 characters',
      )
      .optional(),
    /** Ed25519: the peer's public key (SPKI PEM, or base64 of 32 bytes); this gateway signs with `signing`. */
    public_key: z.string().min(43).max(1000).optional(),
    /** What the peer may call here. Nothing by default. */
    allow: z
      .strictObject({
        tools: globList.default([]),
        projects: z.array(z.string().regex(PROJECT_ID_PATTERN)).default(['default']),
        /** Calls per window from this peer, across its agents. */
        rate_limit: z
          .strictObject({
            limit: z.number().int().positive(),
            window_s: z.number().int().min(1).max(86_400),
          })
          .optional(),
      })
      .prefault({}),
    ...resilienceShape,
    /** Forwarded calls are not retried by default: the peer may have run the tool. */
    retries: z.number().int().min(0).max(5).default(0),
    /**
     * The seed's X-Gateway-Key header (the shared key itself on every request, no signature, no
     * replay protection). Weaker: off unless an old peer needs it.
     */
    legacy_gateway_key: z.boolean().default(false),
  })
  .refine((p) => (p.key === undefined) !== (p.public_key === undefined), {
    message: 'set exactly one of key (HMAC) or public_key (Ed25519)',
  })
  .refine((p) => !p.legacy_gateway_key || p.key !== undefined, {
    message: 'legacy_gateway_key sends the shared key itself: it needs key (HMAC), not public_key',
    path: ['legacy_gateway_key'],
  });
export type TrustedPeer = z.infer<typeof trustedPeerSchema>;

/** trusted_peers.yaml: this gateway's id and its peers. No file: federation is off. */
export const trustedPeersFileSchema = z
  .strictObject({
    /** This gateway's id, as its peers name it: what it adds to a via chain, and refuses to see there. */
    self: peerIdSchema,
    /** The most gateways a call may cross (a forward is one hop). */
    max_hops: z.number().int().min(1).max(8).default(2),
    /** This gateway's own Ed25519 key, for peers configured with a `public_key`. */
    signing: z
      .strictObject({
        key_id: keyIdSchema,
        private_key: z.string().regex(SECRET_REFERENCE, 'a {{secret:NAME}} reference'),
      })
      .optional(),
    peers: z.record(z.string(), trustedPeerSchema).default({}),
  })
  .superRefine((file, ctx) => {
    const seen = new Map<string, string>();
    for (const [id, p] of Object.entries(file.peers)) {
      if (!GATEWAY_ID_PATTERN.test(id))
        ctx.addIssue({
          code: 'custom',
          path: ['peers', id],
          message: `peer id "${id.slice(0, 64)}": use lower-case letters, digits, _ and - (1-63)`,
        });
      if (id === file.self)
        ctx.addIssue({
          code: 'custom',
          path: ['peers', id],
          message: 'a gateway is not its own peer',
        });
      const other = seen.get(p.key_id);
      if (other !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['peers', id, 'key_id'],
          message: `key_id ${p.key_id} is also ${other}'s; each pair has its own key`,
        });
      seen.set(p.key_id, id);
      if (p.public_key !== undefined && file.signing === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['peers', id, 'public_key'],
          message: "an Ed25519 peer needs this gateway's own key: set signing",
        });
    }
  });
export type TrustedPeersFile = z.infer<typeof trustedPeersFileSchema>;
