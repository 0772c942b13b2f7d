/**
 * `routes[].invalidCredentials: anonymous` (the telematics seed: "the API will accept any value with no error
 * message. However, if you use incorrect value, you won't be able to get information from sensitive API"):
 * which rejections become the anonymous identity instead of an error, and that identity.
 */
import type { AuthReason, TrackgateError } from '../errors.js';
import type { Identity } from './types.js';

/**
 * What an invalid credential is forwarded as. `sub` and `scheme` "anonymous" tell it apart from a Geoloqi
 * anonymous user (`kind: anonymous` too, but with its own `sub` and the form that verified its token).
 */
export const ANONYMOUS: Identity = Object.freeze({ subject: 'anonymous', scheme: 'anonymous', kind: 'anonymous' });

/**
 * A wrong, expired or malformed credential. Not: none at all (401 with the challenges: the client has not
 * tried), a stale Digest nonce (the 401 `stale=true` is how the client gets a fresh one), two at once (a
 * smuggling attempt), throttling, an unavailable source (fail closed), or a valid credential the rule refuses (403).
 */
const BECOMES_ANONYMOUS: ReadonlySet<AuthReason | undefined> = new Set<AuthReason | undefined>(['invalid', 'expired', 'malformed']);

export function becomesAnonymous(err: TrackgateError): boolean {
  return BECOMES_ANONYMOUS.has(err.reason);
}
