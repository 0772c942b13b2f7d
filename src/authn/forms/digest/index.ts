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
 *
 * One file per step: `credential.ts` (extract: the header's syntax), `verify.ts` (the offered terms, the
 * response, the nonce's age and count), `challenge.ts`.
 */
import { authorizationParams } from '../../authorization-header.js';
import { parseAuthParams } from '../../auth-params.js';
import { defineAuthenticator } from '../../module.js';
import { digestChallenges } from './challenge.js';
import { digestContext } from './context.js';
import { parseDigestCredential, type DigestCredential } from './credential.js';
import { digestOptions, ID } from './options.js';
import { verifyDigest } from './verify.js';

export type { DigestCredential } from './credential.js';

export const digest = defineAuthenticator({
  id: ID,
  options: digestOptions,
  carriers: () => ({ headers: ['authorization'] }),
  create(options, deps) {
    const ctx = digestContext(options, deps);
    if (options.enabled && !ctx.hasMaterial()) {
      deps.logger.info({ realm: options.realm }, 'authn.digest is enabled but no user has Digest material (digest.ha1) for its realm: no Digest challenge is offered');
    }
    return {
      id: ID,
      extract(req): DigestCredential | undefined {
        const raw = authorizationParams(req, 'Digest');
        if (raw === undefined) return undefined;
        return parseDigestCredential(parseAuthParams(raw, 'Digest'));
      },
      verify: (cred: DigestCredential, req) => verifyDigest(ctx, cred, req),
      challenge: digestChallenges(ctx),
    };
  },
});
