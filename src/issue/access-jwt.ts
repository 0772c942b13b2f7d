/**
 * JWT access tokens for the dialects whose documents promise them (oauth2-jwt-auth-api, telematics). The JWT
 * is signed with trackgate's active key (`typ: at+jwt`, RFC 9068, so it is never taken for an identity
 * header) and handed to `RefreshRotation` as the pair's access value: it is stored by its lookup digest like
 * any issued token, so the proxy accepts it only while its record is live and a revocation kills it at once.
 *
 * Claims are kept few (legacy clients store tokens in small fields; ~350 characters with a short subject).
 */
import { randomBytes } from 'node:crypto';
import type { PairOptions } from './refresh.js';
import type { Subject } from './tokens.js';
import type { IssueDeps } from './types.js';

export interface AccessJwtOptions {
  /** `iss` claim. */
  issuer: string;
  /** `aud` claim: must differ from the identity header's audience. */
  audience: string;
  /** `scope` claim, when configured. */
  scope?: string | undefined;
}

/** The `accessValue` builder of a pair for `subject`. */
export function accessJwt(deps: Pick<IssueDeps, 'signJwt' | 'now'>, subject: Subject, opts: AccessJwtOptions): NonNullable<PairOptions['accessValue']> {
  return (_family, expiresAt) => deps.signJwt({
    iss: opts.issuer,
    sub: subject.subject,
    aud: opts.audience,
    iat: Math.floor(deps.now() / 1000),
    exp: Math.floor(expiresAt / 1000),
    jti: randomBytes(12).toString('base64url'),
    ...(opts.scope !== undefined && opts.scope !== '' ? { scope: opts.scope } : {}),
  }, 'at+jwt');
}

/** Whole seconds until `expiresAt` (epoch ms), never negative: `expires_in`, `tokenLifetime`, `ExpiresIn`. */
export function secondsLeft(expiresAt: number, now: number): number {
  return Math.max(0, Math.ceil((expiresAt - now) / 1000));
}
