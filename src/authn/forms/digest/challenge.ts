/**
 * The Digest challenges of a 401: one per configured algorithm, in their order, sharing one fresh nonce. A
 * request with a body is offered `qop="auth"` only (its `auth-int` could not be checked). None at all while
 * no user has Digest material for the realm: browsers answer Digest rather than Basic when both are offered,
 * so an unusable Digest challenge would lock every browser user out.
 */
import { quoteString } from '../../auth-params.js';
import type { ChallengeContext } from '../../types.js';
import type { DigestContext } from './context.js';
import { hasBody } from './request.js';

export function digestChallenges(ctx: DigestContext): (c: ChallengeContext) => string[] | undefined {
  const { options, nonces, deps } = ctx;
  const realm = quoteString(options.realm);
  const tail = `, opaque=${quoteString(nonces.opaque)}, charset=UTF-8${options.userhash ? ', userhash=true' : ''}`;
  const qopAll = quoteString(options.qop.join(', '));
  const qopNoBody = options.qop.includes('auth') ? quoteString('auth') : qopAll;
  return (c) => {
    if (!ctx.hasMaterial()) return undefined;
    const nonce = quoteString(nonces.issue(deps.now()));
    const qop = hasBody(c.req) ? qopNoBody : qopAll;
    const stalePart = c.stale === true ? ', stale=true' : '';
    return options.algorithms.map((a) => `Digest realm=${realm}, qop=${qop}, algorithm=${a}, nonce=${nonce}${stalePart}${tail}`);
  };
}
