/**
 * The accounts file (YAML): every principal trackgate can authenticate. No secret is stored in clear:
 * passwords, instance keys and client secrets are password hashes; web-service keys and device tokens are
 * lookup digests (`sha256:<hex>`).
 */
import { z } from 'zod';
import { hashProblem } from './password.js';
import { LOOKUP_DIGEST_RE } from './digest-token.js';

// scrypt from `trackgate hash-password`, or an imported bcrypt/apr1/{SHA}/argon2id hash (see password.ts).
const passwordHash = z.string().superRefine((value, ctx) => {
  const problem = hashProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
const lookup = z.string().regex(LOOKUP_DIGEST_RE, 'must be a lookup digest made by `trackgate hash-password --lookup` (sha256:<hex>)');

const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-fA-F]{${n}}$`), `must be ${n} hex digits`).transform((s) => s.toLowerCase());
/**
 * HTTP Digest material for one realm: H(username ":" realm ":" password) per hash function, hex (what
 * Apache `htdigest` stores for MD5; see `htdigest.ts`). No clear password is needed for Digest.
 */
export const digestMaterialSchema = z.object({
  realm: z.string().min(1),
  ha1: z.object({ 'MD5': hex(32).optional(), 'SHA-256': hex(64).optional(), 'SHA-512-256': hex(64).optional() }).strict()
    .refine((h) => Object.values(h).some((v) => v !== undefined), 'needs at least one of MD5, SHA-256, SHA-512-256'),
}).strict();

/**
 * An account a user may act for: its name (the identity's `account` claim), or a name with the integer id a
 * legacy client selects it by (the fleet login's `account_id`, an integer in its document).
 */
const accountEntry = z.union([
  z.string().min(1),
  z.object({ name: z.string().min(1), id: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict(),
]);

const userFields = z.object({
  /** Login name (UTF-8). */
  username: z.string().min(1).refine((s) => !s.includes(':'), 'must not contain ":" (RFC 7617)'),
  /** Stable subject id for the identity header; defaults to the username. */
  id: z.string().min(1).optional(),
  password: passwordHash.optional(),
  /** GPS REST v2 web-service keys (usable as the Basic password or as `key`). */
  webServiceKeys: z.array(lookup).default([]),
  /** HTTP Digest (RFC 7616) material: per-realm HA1 per hash function. */
  digest: digestMaterialSchema.optional(),
  /** Accounts the user may act for; the first is the default. */
  accounts: z.array(accountEntry).default([]),
});

/** A user entry; `accounts` becomes the names, `accountIds` (when any has one) maps each integer id to its account's name. */
export const userSchema = userFields.superRefine((u, ctx) => {
  const names = new Set(u.accounts.map((a) => (typeof a === 'string' ? a : a.name)));
  const ids = new Set<number>();
  for (const a of u.accounts) {
    if (typeof a === 'string') continue;
    // account_id 42 must mean one account: not an id given twice, nor an id that is another account's name.
    if (ids.has(a.id) || (names.has(String(a.id)) && String(a.id) !== a.name)) {
      ctx.addIssue({ code: 'custom', path: ['accounts'], message: `account id ${a.id} names two accounts` });
    }
    ids.add(a.id);
  }
}).transform(({ accounts, ...u }): typeof u & { accounts: string[]; accountIds?: ReadonlyMap<number, string> } => {
  const ids = new Map(accounts.flatMap((a) => (typeof a === 'string' ? [] : [[a.id, a.name] as const])));
  return { ...u, accounts: accounts.map((a) => (typeof a === 'string' ? a : a.name)), ...(ids.size > 0 ? { accountIds: ids } : {}) };
});

export const adminSchema = z.object({
  email: z.string().min(1),
  /** API InstanceId the admin credentials belong to. */
  instanceId: z.string().min(1),
  instanceKey: passwordHash,
  password: passwordHash,
});

export const deviceSchema = z.object({
  id: z.string().min(1),
  deviceToken: lookup,
});

export const userGroupSchema = z.object({
  instanceId: z.string().min(1),
  instanceKey: passwordHash,
  devices: z.array(deviceSchema).default([]),
});

export const applicationSchema = z.object({
  clientId: z.string().min(1),
  clientSecret: passwordHash,
  name: z.string().optional(),
});

export const accountsFileSchema = z.object({
  users: z.array(userSchema).default([]),
  admins: z.array(adminSchema).default([]),
  userGroups: z.array(userGroupSchema).default([]),
  applications: z.array(applicationSchema).default([]),
}).strict();

export type AccountsFile = z.infer<typeof accountsFileSchema>;
export type UserRecord = z.infer<typeof userSchema>;
export type DigestMaterial = z.infer<typeof digestMaterialSchema>;
export type AdminRecord = z.infer<typeof adminSchema>;
export type UserGroupRecord = z.infer<typeof userGroupSchema>;
export type DeviceRecord = z.infer<typeof deviceSchema>;
export type ApplicationRecord = z.infer<typeof applicationSchema>;
