import { z } from 'zod';

/**
 * The admin roles (docs/admins.md). `admin` may do everything; the others what
 * `ROLE_PERMISSIONS` in the ingress gives them.
 */
export const ADMIN_ROLES = ['admin', 'policy_editor', 'approver', 'analyst', 'viewer'] as const;
export const adminRoleSchema = z.enum(ADMIN_ROLES);
export type AdminRole = z.infer<typeof adminRoleSchema>;

/** A principal's name: what the audit and an approval record as who did it. */
export const ADMIN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

const adminSchema = z.strictObject({
  /** sha256 of the principal's key, hex (`printf %s "$KEY" | sha256sum`): the key itself is never stored. */
  key_sha256: z.string().regex(/^[a-f0-9]{64}$/, 'the 64 lower-case hex digits of sha256(key)'),
  roles: z.array(adminRoleSchema).min(1),
});

/** admins.yaml: the named admin principals, the OIDC mapping, and the four-eyes rule. */
export const adminsFileSchema = z
  .strictObject({
    admins: z.record(z.string(), adminSchema).default({}),
    /**
     * Admins with OIDC bearer tokens (ADMIN_OIDC_ISSUER, ADMIN_OIDC_JWKS_URL,
     * ADMIN_OIDC_AUDIENCE): the claim that names them, the claim that holds their groups or
     * roles, and which of its values is which role. A token with no mapped value is refused.
     */
    oidc: z
      .strictObject({
        name_claim: z.string().min(1).max(64).default('sub'),
        role_claim: z.string().min(1).max(64).default('groups'),
        roles: z.record(z.string().min(1).max(256), adminRoleSchema).default({}),
      })
      .optional(),
    /** The principal who requested a change (an approval's user, a proposal's author) cannot approve it. */
    four_eyes: z.boolean().default(true),
  })
  .superRefine((file, ctx) => {
    const seen = new Map<string, string>();
    for (const [name, a] of Object.entries(file.admins)) {
      if (!ADMIN_NAME_PATTERN.test(name))
        ctx.addIssue({
          code: 'custom',
          path: ['admins', name],
          message: `admin name "${name.slice(0, 64)}": 1-128 letters, digits, . _ @ -`,
        });
      const other = seen.get(a.key_sha256);
      if (other !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['admins', name, 'key_sha256'],
          message: `the same key as ${other}: each principal has its own key`,
        });
      seen.set(a.key_sha256, name);
    }
  });
export type AdminsFile = z.infer<typeof adminsFileSchema>;
