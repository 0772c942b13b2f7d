/**
 * Geoloqi access tokens (geoloqi-authentication): `Authorization: OAuth <token>` (OAuth 2.0 draft style), or
 * `access_token` in the query string ("not recommended", but legacy JavaScript clients do it). The same
 * token in both is one credential; different ones are ambiguous (400).
 *
 * Verified against the store (type `access`). As in Geoloqi, application tokens may act for any `user_id`,
 * user tokens only for themselves (else 403), wherever `user_id` arrives: the query here, under every spelling an
 * upstream's parser reads as `user_id` (src/authn/acts-for.ts); for a user token the proxy also reads form, JSON
 * and multipart bodies, whole up to `userIdBodyBytes` (src/proxy/acts-for-body.ts). An app token's
 * `user_id` is not copied into the identity header: trackgate cannot tell whether that user belongs to the app,
 * and a signed claim would look like a statement that it had.
 */
import { z } from 'zod';
import { TrackgateError } from '../../errors.js';
import { authorizationParams } from '../authorization-header.js';
import { defineAuthenticator } from '../module.js';
import { identityFromStoredToken, malformedToken, queryValues, singleToken } from '../stored-token.js';
import { formParamValues, refuseActingForOthers, type ActsForRule } from '../acts-for.js';
import type { Credential, Identity } from '../types.js';

export interface OAuthHeaderCredential extends Credential {
  readonly token: string;
  /** The request's `user_id` query parameter, when present. */
  readonly userId: string | undefined;
}

/** Identity `scheme` claim of a Geoloqi access token. */
export const OAUTH_SCHEME = 'oauth';

// RFC 6750 b64token: what an OAuth 2 token in an Authorization header can be. OAuth 1.0 headers
// (`OAuth oauth_consumer_key="…", …`) are not, and are rejected as malformed rather than looked up.
const B64TOKEN_RE = /^[A-Za-z0-9\-._~+/]+=*$/;

export const oauth = defineAuthenticator({
  id: 'oauth',
  options: z.object({
    enabled: z.boolean().default(false).describe('Accept Geoloqi access tokens (`Authorization: OAuth <token>`, `access_token` query parameter).'),
    realm: z.string().default('trackgate').describe('Realm announced in the OAuth challenge.'),
    userIdBodyBytes: z.number().int().min(1).max(16 * 1024 * 1024).default(64 * 1024).describe('Largest form, JSON or multipart body a user token may send: it is read whole to check its `user_id` (larger → 413). Application tokens\' bodies are not read.'),
  }),
  carriers: () => ({ headers: ['authorization'], query: ['access_token'] }),
  create(options, deps) {
    const challenge = `OAuth realm="${options.realm.replace(/["\\]/g, '\\$&')}"`;
    const actsFor: ActsForRule = { param: 'user_id', maxBodyBytes: options.userIdBodyBytes, restricted: (identity) => identity.kind !== 'app' };
    return {
      id: 'oauth',
      extract(req): OAuthHeaderCredential | undefined {
        const header = authorizationParams(req, 'OAuth');
        if (header !== undefined && header !== '' && !B64TOKEN_RE.test(header)) {
          throw malformedToken('Authorization OAuth: not a b64token (OAuth 1.0 signatures are not supported)');
        }
        // Every request runs this: nothing is allocated unless some carrier is present.
        if (header === undefined && req.query('access_token') === undefined) return undefined;
        const token = singleToken([
          ['Authorization OAuth', header === undefined ? [] : [header]],
          ['query access_token', queryValues(req, 'access_token')],
        ]);
        if (token === undefined) return undefined;
        const q = req.url.indexOf('?');
        const userIds = q < 0 ? [] : [...new Set(formParamValues(req.url.slice(q + 1), 'user_id'))];
        if (userIds.length > 1) {
          // Which one the upstream reads is its business; refusing is the only answer that cannot be wrong.
          throw new TrackgateError('TG_ERR_BAD_REQUEST', 'more than one user_id', { detail: 'query user_id repeated with different values' });
        }
        const userId = userIds[0];
        // user_id is part of the cache key: the verdict (403 for a user token acting for someone else) and,
        // for app tokens, the request it admits depend on it.
        return { scheme: 'oauth', cacheParts: userId === undefined ? [token] : [token, userId], token, userId };
      },
      async verify(cred: OAuthHeaderCredential): Promise<Identity> {
        const identity = await identityFromStoredToken(deps, cred.token, { types: ['access'], scheme: OAUTH_SCHEME });
        if (cred.userId !== undefined) refuseActingForOthers(actsFor, identity, [cred.userId], 'query');
        return identity;
      },
      challenge: () => challenge,
      actsFor,
    };
  },
});
