/**
 * HTTP Digest (RFC 7616) against the accounts file's per-realm HA1 material (no clear password needed):
 * MD5, SHA-256 and SHA-512-256, each plain and `-sess`; `qop=auth` and `qop=auth-int`; `userhash`;
 * `username*` (RFC 8187) and `charset=UTF-8`.
 *
 * - Nonces are stateless (see `digest-nonce.ts`): any replica with the shared secret accepts them, across
 *   config reloads. They expire after `nonceTtlSeconds`; a correct response on an expired nonce gets a 401
 *   with `stale=true`, so clients retry without asking the user again.
 * - Each (nonce, nc) pair is accepted once, in any order (`digest-nonce-counter.ts`; across replicas when the
 *   store is Redis, `store/redis-nonce-counter.ts`). Digest credentials are single-use, so they bypass the
 *   validation cache (`cacheParts: undefined`).
 * - `qop=auth-int` covers the entity body, which the proxy streams and never buffers: it is accepted for
 *   requests without a body (the body hash is H("")), and a request with a body gets a 400 saying to use
 *   `qop=auth`; the 401 challenge of a request with a body offers `qop="auth"` only.
 * - RFC 2069 (no `qop`) is refused with a 400: RFC 7616 drops that mode (it has no client nonce and no
 *   count, so no replay protection on a reusable nonce), and every client that reads our challenge, which
 *   always carries `qop`, sends one.
 * - Status codes: unreadable credentials, a missing field and a `uri` that is not the request target
 *   (RFC 7616 §3.4.6) are 400; a foreign realm, an algorithm or qop we did not offer, a nonce we did not
 *   make, a wrong response, a replayed count and an unknown user are 401 with fresh challenges (the client
 *   can answer one of them); an expired nonce with a correct response is 401 `stale=true`.
 * - An unknown user (or one without material for the algorithm) costs the same hashing as a known one,
 *   against dummy material; responses are compared with `timingSafeEqual`; a failure ends at the same
 *   floor as every failed password check (PasswordVerifier).
 * - Challenges (one per configured algorithm, same nonce) are offered only while the accounts file has
 *   Digest material for the realm: browsers prefer Digest to Basic, so an unusable Digest challenge would
 *   lock browser users out (enabled by default is then harmless for files without `digest:` entries).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { AccountDirectory } from '../../accounts/directory.js';
import { TrackgateError } from '../../errors.js';
import { authorizationParams } from '../authorization-header.js';
import { parseAuthParams, quoteString } from '../auth-params.js';
import {
  algorithmInfo, DIGEST_ALGORITHMS, DIGEST_HASHES, digestResponse, HEX_LENGTH, type DigestHash, type DigestQop,
} from '../digest-hash.js';
import { DigestNonces } from '../digest-nonce.js';
import { MemoryNonceCounterStore, type NonceCounterStore } from '../../store/digest-nonce-counter.js';
import { defineAuthenticator } from '../module.js';
import type { AuthnDeps, Credential, Identity, RequestView } from '../types.js';

export interface DigestCredential extends Credential {
  /** The user name (decoded from `username*` when that was used), or the userhash hex when `userhash`. */
  readonly username: string;
  readonly userhash: boolean;
  readonly realm: string;
  readonly nonce: string;
  readonly uri: string;
  /** Lower-case hex. */
  readonly response: string;
  /** As sent; `MD5` when absent (RFC 7616 §3.4). */
  readonly algorithm: string;
  /** As sent (hashed as sent). */
  readonly qop: string;
  /** The 8 hex digits as sent (hashed as sent), and their value. */
  readonly nc: string;
  readonly count: number;
  readonly cnonce: string;
  readonly opaque: string;
}

/** A genuine nonce stamped this far in the future (replica clocks apart) is still accepted. */
const MAX_CLOCK_SKEW_MS = 60_000;
const NC_RE = /^[0-9a-fA-F]{8}$/;
const HEX_RE = /^[0-9a-fA-F]+$/;
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
const NON_ASCII_RE = /[\u0080-\u00ff]/;
// RFC 8187: ext-value = charset "'" [ language ] "'" value-chars
const EXT_VALUE_RE = /^([A-Za-z0-9!#$%&+^_`{}~-]+)'([A-Za-z0-9-]*)'((?:%[0-9A-Fa-f]{2}|[A-Za-z0-9!#$&+.^_`|~-])*)$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function malformed(what: string): TrackgateError {
  return new TrackgateError('TG_ERR_MALFORMED_CREDENTIALS', `malformed Digest credentials: ${what}`, { detail: `digest: ${what}`, reason: 'malformed' });
}

function invalid(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid credentials', { detail: `digest: ${detail}`, reason: 'invalid' });
}

function stale(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_EXPIRED_CREDENTIALS', 'Digest nonce is stale', { detail: `digest: ${detail}`, reason: 'stale' });
}

/** A user name that arrived as raw octets in a quoted-string: UTF-8 per our `charset=UTF-8`. */
function decodeOctets(value: string, field: string): string {
  if (!NON_ASCII_RE.test(value)) return value;
  try {
    return utf8.decode(Buffer.from(value, 'latin1'));
  } catch {
    throw malformed(`${field} is not valid UTF-8`);
  }
}

/** Decodes an RFC 8187 ext-value (`UTF-8''J%C3%A4s%C3%B8n`); UTF-8 and ISO-8859-1 are accepted. */
export function decodeExtValue(value: string): string {
  const m = EXT_VALUE_RE.exec(value);
  if (m === null) throw malformed('username* is not an RFC 8187 ext-value');
  const charset = m[1]!.toLowerCase();
  if (charset !== 'utf-8' && charset !== 'iso-8859-1') throw malformed('username* charset must be UTF-8');
  const bytes = Buffer.from(m[3]!.replace(/%([0-9A-Fa-f]{2})|([^%])/g, (_s, hex: string | undefined, c: string | undefined) =>
    hex !== undefined ? String.fromCharCode(parseInt(hex, 16)) : c!), 'latin1');
  if (charset === 'iso-8859-1') return bytes.toString('latin1');
  try {
    return utf8.decode(bytes);
  } catch {
    throw malformed('username* is not valid UTF-8');
  }
}

/**
 * Reads the auth-params of a Digest `Authorization` value into a credential. Syntax only: every required
 * field present and well-formed (missing or unreadable → 400); what the values mean is `verify`'s job.
 */
export function parseDigestCredential(params: ReadonlyMap<string, string>): DigestCredential {
  const get = (name: string, hint = ''): string => {
    const v = params.get(name);
    if (v === undefined || v === '') throw malformed(`missing ${name}${hint}`);
    return v;
  };
  const userhashParam = params.get('userhash')?.toLowerCase();
  if (userhashParam !== undefined && userhashParam !== 'true' && userhashParam !== 'false') throw malformed('userhash must be true or false');
  const userhash = userhashParam === 'true';
  const plain = params.get('username');
  const ext = params.get('username*');
  let username: string;
  if (plain !== undefined && ext !== undefined) throw malformed('both username and username*');
  if (ext !== undefined) {
    if (userhash) throw malformed('username* with userhash=true');
    username = decodeExtValue(ext);
  } else if (plain !== undefined) {
    username = userhash ? plain.toLowerCase() : decodeOctets(plain, 'username');
    if (userhash && !HEX_RE.test(username)) throw malformed('userhash username is not hex');
  } else {
    throw malformed('missing username');
  }
  if (username === '' || CONTROL_RE.test(username)) throw malformed('username is empty or has control characters');
  const qop = params.get('qop');
  if (qop === undefined) throw malformed('missing qop (RFC 2069 Digest is not supported)');
  const nc = get('nc');
  if (!NC_RE.test(nc)) throw malformed('nc must be 8 hex digits');
  const count = parseInt(nc, 16);
  if (count === 0) throw malformed('nc must not be 0');
  const response = get('response');
  if (!HEX_RE.test(response)) throw malformed('response is not hex');
  return {
    scheme: 'digest',
    cacheParts: undefined,
    username,
    userhash,
    realm: get('realm'),
    nonce: get('nonce'),
    uri: get('uri'),
    response: response.toLowerCase(),
    algorithm: params.get('algorithm') ?? 'MD5',
    qop,
    nc,
    count,
    cnonce: get('cnonce'),
    opaque: get('opaque', ' (it must be returned as sent)'),
  };
}

/** Whether the Digest `uri` names the request target: the same string, or an absolute URI with its path and query. */
export function uriMatches(uri: string, target: string): boolean {
  if (uri === target) return true;
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(uri);
  if (m === null) return false;
  const rest = uri.slice(m[0].length);
  return rest === target || (rest === '' && target === '/');
}

/** Whether the request has (or may have) a body; an `auth-int` response can only be checked without one. */
function hasBody(req: RequestView): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && Number(cl) !== 0;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * One `nc` store per app, kept across config reloads (the deps object lives as long as the app), so a
 * reload does not forget which counts were used. A changed `maxTrackedNonces` starts a new store, which
 * answers nonces issued before it `stale` (fail closed).
 */
const counterStores = new WeakMap<AuthnDeps, { maxNonces: number; store: NonceCounterStore }>();
function counterStoreFor(deps: AuthnDeps, maxNonces: number): NonceCounterStore {
  if (deps.nonceCounter !== undefined) return deps.nonceCounter; // shared by cluster workers (src/cluster/)
  const prev = counterStores.get(deps);
  if (prev !== undefined && prev.maxNonces === maxNonces) return prev.store;
  const store = new MemoryNonceCounterStore({ maxNonces, now: () => deps.now() });
  counterStores.set(deps, { maxNonces, store });
  return store;
}

const ASCII_REALM = /^[\x20-\x7e]+$/;

export const digest = defineAuthenticator({
  id: 'digest',
  options: z.object({
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
  }),
  create(options, deps) {
    const realm = options.realm;
    const nonces = new DigestNonces(deps.sharedSecret, realm);
    const counters = counterStoreFor(deps, options.maxTrackedNonces);
    const ttlMs = options.nonceTtlSeconds * 1000;
    const offered = new Set<string>(options.algorithms);
    const qops = new Set<string>(options.qop);
    // Dummy HA1s: an unknown user costs the same hashing as a known one.
    const dummy = Object.fromEntries(DIGEST_HASHES.map((h) => [h, randomBytes(HEX_LENGTH[h] / 2).toString('hex')])) as Record<DigestHash, string>;
    const realmParam = quoteString(realm);
    const challengeTail = `, opaque=${quoteString(nonces.opaque)}, charset=UTF-8${options.userhash ? ', userhash=true' : ''}`;
    const qopAll = quoteString(options.qop.join(', '));
    const qopNoBody = options.qop.includes('auth') ? quoteString('auth') : qopAll;
    // Browsers answer Digest rather than Basic when both are offered: a Digest challenge nobody has material
    // for would lock every browser user out. So it is offered only while some user has HA1s for the realm.
    const offerable = new WeakMap<AccountDirectory, boolean>();
    const anyMaterial = (): boolean => {
      const dir = deps.accounts();
      let v = offerable.get(dir);
      if (v === undefined) {
        v = dir.file.users.some((u) => u.digest?.realm === realm);
        offerable.set(dir, v);
      }
      return v;
    };
    if (options.enabled && !anyMaterial()) {
      deps.logger.info({ realm }, 'authn.digest is enabled but no user has Digest material (digest.ha1) for its realm: no Digest challenge is offered');
    }

    return {
      id: 'digest',
      carriers: { headers: ['authorization'] },
      extract(req): DigestCredential | undefined {
        const raw = authorizationParams(req, 'Digest');
        if (raw === undefined) return undefined;
        return parseDigestCredential(parseAuthParams(raw, 'Digest'));
      },
      async verify(cred: DigestCredential, req): Promise<Identity> {
        if (!uriMatches(cred.uri, req.url)) {
          throw new TrackgateError('TG_ERR_BAD_REQUEST', 'Digest uri does not match the request target', {
            detail: 'digest: uri mismatch', reason: 'malformed',
          });
        }
        if (cred.realm !== realm) throw invalid('foreign realm');
        const alg = algorithmInfo(cred.algorithm);
        if (alg === undefined || !offered.has(alg.algorithm)) throw invalid('algorithm not offered');
        const qop = cred.qop.toLowerCase();
        if (!qops.has(qop)) throw invalid('qop not offered');
        if (cred.userhash && !options.userhash) throw invalid('userhash not offered');
        const issuedAt = nonces.open(cred.nonce);
        const now = deps.now();
        if (issuedAt === undefined || issuedAt > now + MAX_CLOCK_SKEW_MS) throw invalid('nonce not issued by us');
        if (!safeEqual(cred.opaque, nonces.opaque)) throw invalid('opaque mismatch');
        if (qop === 'auth-int' && hasBody(req)) {
          throw new TrackgateError('TG_ERR_BAD_REQUEST', 'qop=auth-int is supported only for requests without a body; use qop=auth', {
            detail: 'digest: auth-int with a body', reason: 'malformed',
          });
        }

        const user = cred.userhash
          ? deps.accounts().userByDigestUserhash(alg.hash, cred.username)
          : deps.accounts().user(cred.username);
        // Throttled per user (the hashed name when userhash is used) and per client address, like Basic.
        const keys = [{ scope: 'user' as const, value: user?.username ?? cred.username }, { scope: 'ip' as const, value: req.remoteAddress }];
        await deps.throttle?.check(keys);
        const started = deps.passwords.start();
        const material = user?.digest?.realm === realm ? user.digest.ha1[alg.hash] : undefined;
        const expected = digestResponse({
          hash: alg.hash, sess: alg.sess, ha1: material ?? dummy[alg.hash], nonce: cred.nonce, nc: cred.nc,
          cnonce: cred.cnonce, qop: qop as DigestQop, qopAsSent: cred.qop, method: req.method, uri: cred.uri,
        });
        const matches = safeEqual(cred.response, expected);
        if (!matches || material === undefined || user === undefined) {
          // Known and unknown users already do the same hashing; the floor makes a wrong Digest response take
          // as long as any other failed password check.
          await deps.passwords.failed(started);
          await deps.throttle?.fail(keys);
          throw invalid(user === undefined ? 'unknown user' : material === undefined ? `no ${alg.hash} material for the realm` : 'wrong response');
        }
        // Only a client that knows the password learns that its nonce is stale (RFC 7616 §3.3).
        if (now - issuedAt > ttlMs) throw stale('nonce expired');
        const verdict = await counters.record(cred.nonce, cred.count, issuedAt, issuedAt + ttlMs);
        if (verdict === 'replayed') throw invalid('nc replayed');
        if (verdict === 'unknown') throw stale('nc not trackable (nonce record lost or count below the window)');
        await deps.throttle?.succeed(keys);
        return Object.freeze({
          subject: user.id ?? user.username,
          scheme: 'digest',
          kind: 'user' as const,
          ...(user.accounts[0] !== undefined ? { account: user.accounts[0] } : {}),
        });
      },
      challenge(ctx): string[] | undefined {
        if (!anyMaterial()) return undefined;
        const nonce = quoteString(nonces.issue(deps.now()));
        const qop = hasBody(ctx.req) ? qopNoBody : qopAll;
        const stalePart = ctx.stale === true ? ', stale=true' : '';
        return options.algorithms.map((a) =>
          `Digest realm=${realmParam}, qop=${qop}, algorithm=${a}, nonce=${nonce}${stalePart}${challengeTail}`);
      },
    };
  },
});
