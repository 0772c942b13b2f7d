/** The Digest form's id and its config block, `authn.digest`. */
import { z } from 'zod';
import { DIGEST_ALGORITHMS } from '../../digest-hash.js';

export const ID = 'digest';

const ASCII_REALM = /^[\x20-\x7e]+$/;

export const digestOptions = z.object({
  enabled: z.boolean().default(true).describe('Accept HTTP Digest (RFC 7616) credentials.'),
  realm: z.string().regex(ASCII_REALM, 'must be printable ASCII').default('trackgate')
    .describe('Realm announced in the Digest challenges; users need Digest material (HA1) for this realm.'),
  algorithms: z.array(z.enum(DIGEST_ALGORITHMS)).min(1).default(['MD5', 'SHA-256'])
    .refine((a) => new Set(a).size === a.length, 'must not repeat an algorithm')
    .describe('Algorithms offered and accepted, one challenge each in this order: the first leads the 401, the others close it (docs/configuration.md "Digest and common clients"). Many clients answer only the first Digest challenge, so the default keeps the legacy devices\' MD5 first and offers SHA-256 after it; put SHA-256 first once every client speaks RFC 7616. Keep MD5 offered for wget, which answers MD5 whatever it is offered. curl before 8.8, httpx and httpie fail on SHA-512-256.'),
  qop: z.array(z.enum(['auth', 'auth-int'])).min(1).default(['auth'])
    .refine((a) => new Set(a).size === a.length, 'must not repeat a qop')
    .describe('Qualities of protection offered and accepted (`auth-int` only for requests without a body). Default `auth` alone: some clients (wget 1.21) cannot parse a list and fall back to RFC 2069, which is refused.'),
  nonceTtlSeconds: z.number().int().min(1).max(86400).default(300)
    .describe('Nonce lifetime; a correct response on an older nonce gets 401 `stale=true` and a fresh nonce.'),
  userhash: z.boolean().default(true).describe('Offer and accept `userhash=true` (the user name travels hashed).'),
  maxTrackedNonces: z.number().int().min(1).default(100000)
    .describe('Nonces whose used `nc` values are remembered in memory (a few hundred bytes each); past this the least recently used are dropped and answered `stale`. Not used with a Redis store, which keeps each nonce\'s record until the nonce expires.'),
});

export type DigestOptions = z.output<typeof digestOptions>;
