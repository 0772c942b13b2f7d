/**
 * GPS REST v2 session tokens (gps-data-web-service-auth): the time-limited token `POST /rest/v2/token`
 * issues, sent back as the `_token` query parameter, the `token` cookie, or an `X-Token` header. The seed's
 * own example sends the same token as `?_token=` and `Cookie: token=` at once: that is one credential; two
 * different values (in any carriers, or repeated in one) are ambiguous (400).
 *
 * Verified against the store (type `session`, not revoked, not expired). Challenge: `X-Token`, the seed's
 * custom scheme.
 */
import { z } from 'zod';
import { defineAuthenticator } from '../module.js';
import { cookieValues, identityFromStoredToken, queryValues, singleToken } from '../stored-token.js';
import type { Credential, Identity } from '../types.js';

export interface SessionTokenCredential extends Credential {
  readonly token: string;
}

/** Identity `scheme` claim of a session token. */
export const SESSION_TOKEN_SCHEME = 'session_token';

export const sessionToken = defineAuthenticator({
  id: 'session_token',
  options: z.object({
    enabled: z.boolean().default(false).describe('Accept GPS REST v2 session tokens (`_token` query parameter, `token` cookie, `X-Token` header).'),
  }),
  carriers: () => ({ headers: ['x-token'], cookies: ['token'], query: ['_token'] }),
  create(_options, deps) {
    return {
      id: 'session_token',
      extract(req): SessionTokenCredential | undefined {
        const header = req.headers['x-token'];
        // Every request runs this: nothing is allocated unless some carrier is present.
        if (header === undefined && req.query('_token') === undefined && req.cookie('token') === undefined) return undefined;
        const token = singleToken([
          ['query _token', queryValues(req, '_token')],
          ['cookie token', cookieValues(req, 'token')],
          ['header X-Token', typeof header === 'string' ? [header] : []],
        ]);
        if (token === undefined) return undefined;
        return { scheme: 'session_token', cacheParts: [token], token };
      },
      verify(cred: SessionTokenCredential): Promise<Identity> {
        return identityFromStoredToken(deps, cred.token, { types: ['session'], scheme: SESSION_TOKEN_SCHEME });
      },
      challenge: () => 'X-Token',
    };
  },
});
