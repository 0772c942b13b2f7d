/**
 * Verifying a Digest credential, in three steps: the terms it claims must be ones we offered (400/401 before
 * any user lookup), its response must be right (throttled and timed like every password check), and only
 * then is its nonce checked for age and its count for replay, so only a client that knows the password learns
 * that its nonce is stale (RFC 7616 §3.3).
 */
import { timingSafeEqual } from 'node:crypto';
import type { UserRecord } from '../../../accounts/schema.js';
import type { ThrottleKey } from '../../../store/throttle.js';
import { algorithmInfo, digestResponse, type DigestHash, type DigestQop } from '../../digest-hash.js';
import type { Identity, RequestView } from '../../types.js';
import type { DigestContext } from './context.js';
import type { DigestCredential } from './credential.js';
import { badRequest, invalid, stale } from './errors.js';
import { ID } from './options.js';
import { hasBody, uriMatches } from './request.js';

/** A genuine nonce stamped this far in the future (replica clocks apart) is still accepted. */
const MAX_CLOCK_SKEW_MS = 60_000;

/** What the credential claims, once every claim is one we offered. */
interface Terms {
  readonly hash: DigestHash;
  readonly sess: boolean;
  /** Lower-cased. */
  readonly qop: DigestQop;
  readonly issuedAt: number;
  readonly now: number;
}

export async function verifyDigest(ctx: DigestContext, cred: DigestCredential, req: RequestView): Promise<Identity> {
  const terms = checkTerms(ctx, cred, req);
  const { user, keys } = await checkResponse(ctx, cred, req, terms);
  await checkFreshness(ctx, cred, terms);
  await ctx.deps.throttle?.succeed(keys);
  return Object.freeze({
    subject: user.id ?? user.username,
    scheme: ID,
    kind: 'user' as const,
    ...(user.accounts[0] !== undefined ? { account: user.accounts[0] } : {}),
  });
}

/** The request target, realm, algorithm, qop, userhash, nonce and opaque: ours, or the request is refused. */
function checkTerms({ options, nonces, algorithms, qops, deps }: DigestContext, cred: DigestCredential, req: RequestView): Terms {
  if (!uriMatches(cred.uri, req.url)) throw badRequest('Digest uri does not match the request target', 'uri mismatch');
  if (cred.realm !== options.realm) throw invalid('foreign realm');
  const alg = algorithmInfo(cred.algorithm);
  if (alg === undefined || !algorithms.has(alg.algorithm)) throw invalid('algorithm not offered');
  const qop = cred.qop.toLowerCase();
  if (!qops.has(qop)) throw invalid('qop not offered');
  if (cred.userhash && !options.userhash) throw invalid('userhash not offered');
  const issuedAt = nonces.open(cred.nonce);
  const now = deps.now();
  if (issuedAt === undefined || issuedAt > now + MAX_CLOCK_SKEW_MS) throw invalid('nonce not issued by us');
  if (!safeEqual(cred.opaque, nonces.opaque)) throw invalid('opaque mismatch');
  if (qop === 'auth-int' && hasBody(req)) {
    throw badRequest('qop=auth-int is supported only for requests without a body; use qop=auth', 'auth-int with a body');
  }
  return { hash: alg.hash, sess: alg.sess, qop: qop as DigestQop, issuedAt, now };
}

/**
 * The user's expected response against the one sent. An unknown user, or one without material for the
 * algorithm, is hashed against dummy material and fails the same way, after the same floor.
 */
async function checkResponse(
  { options, deps, dummy }: DigestContext, cred: DigestCredential, req: RequestView, terms: Terms,
): Promise<{ user: UserRecord; keys: ThrottleKey[] }> {
  const { hash } = terms;
  const user = cred.userhash ? deps.accounts().userByDigestUserhash(hash, cred.username) : deps.accounts().user(cred.username);
  // Throttled per user (the hashed name when userhash is used) and per client address, like Basic.
  const keys: ThrottleKey[] = [{ scope: 'user', value: user?.username ?? cred.username }, { scope: 'ip', value: req.remoteAddress }];
  await deps.throttle?.check(keys);
  const started = deps.passwords.start();
  const material = user?.digest?.realm === options.realm ? user.digest.ha1[hash] : undefined;
  const expected = digestResponse({
    hash, sess: terms.sess, ha1: material ?? dummy[hash], nonce: cred.nonce, nc: cred.nc,
    cnonce: cred.cnonce, qop: terms.qop, qopAsSent: cred.qop, method: req.method, uri: cred.uri,
  });
  const matches = safeEqual(cred.response, expected);
  if (!matches || material === undefined || user === undefined) {
    // Known and unknown users already do the same hashing; the floor makes a wrong Digest response take
    // as long as any other failed password check.
    await deps.passwords.failed(started);
    await deps.throttle?.fail(keys);
    throw invalid(user === undefined ? 'unknown user' : material === undefined ? `no ${hash} material for the realm` : 'wrong response');
  }
  return { user, keys };
}

/** The nonce's age, then its count: each (nonce, nc) pair is accepted once. */
async function checkFreshness({ counters, ttlMs }: DigestContext, cred: DigestCredential, { issuedAt, now }: Terms): Promise<void> {
  if (now - issuedAt > ttlMs) throw stale('nonce expired');
  const verdict = await counters.record(cred.nonce, cred.count, issuedAt, issuedAt + ttlMs);
  if (verdict === 'replayed') throw invalid('nc replayed');
  if (verdict === 'unknown') throw stale('nc not trackable (nonce record lost or count below the window)');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  return x.length === y.length && timingSafeEqual(x, y);
}
