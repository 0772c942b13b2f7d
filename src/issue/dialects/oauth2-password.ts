/**
 * OAuth 2.0 + JWT Auth API (seed: oauth2-jwt-auth-api.txt):
 *
 * | endpoint              | request (form-urlencoded; JSON accepted)        | 200                                                              |
 * |-----------------------|-------------------------------------------------|------------------------------------------------------------------|
 * | `POST /auth/password` | `username`, `password` [, `grant_type=password`] | `{access_token, refresh_token, token_type: "bearer", expires_in}` |
 * | `POST /auth/refresh`  | `refresh_token` (also JSON `refreshToken`)       | a new pair, same shape (see shared-refresh.ts)                   |
 *
 * The access token is a JWT (`typ: at+jwt`) that is also stored by digest, so revoking it or its family
 * works like for any opaque token; clients send it as `Authorization: Bearer <access_token>`. Refresh tokens
 * are opaque and rotate: the old one dies at once, a retry within `issue.refreshGraceSeconds` gets the same
 * new pair, a reuse after it revokes the whole family. Refreshing does not revoke the previous access token:
 * it stays valid until its own expiry (≤ `accessTtlSeconds`), like any bearer token a client may still have
 * in flight; revoking the family kills it.
 *
 * Errors are RFC 6749 §5.2 `{error, error_description}`: bad user credentials → 400 `invalid_grant` (the RFC's
 * code for bad resource-owner credentials); a bad, expired, revoked or reused refresh token → 401
 * `invalid_grant` (the seed: "the /refresh endpoint returning a 401" tells the client to fall back to
 * /password); missing fields → 400 `invalid_request`; another `grant_type` → 400 `unsupported_grant_type`;
 * throttled → 429 `slow_down` (RFC 8628's registered token-endpoint code) with Retry-After.
 */
import { z } from 'zod';
import { TrackgateError } from '../../errors.js';
import { accessJwt, secondsLeft } from '../access-jwt.js';
import { stringField } from '../body.js';
import { checkUserPassword } from '../password-login.js';
import type { TokenPair } from '../refresh.js';
import { samplePair } from '../sample-pair.js';
import type { Subject } from '../tokens.js';
import { defineDialect, type IssueReply } from '../types.js';
import { WireError, wireCodeOf } from '../wire-error.js';

const ID = 'oauth2_password';

export const oauth2Password = defineDialect({
  id: ID,
  options: z.object({
    enabled: z.boolean().default(true).describe('Serve the OAuth 2.0 + JWT Auth API: `POST <prefix>/password` and `POST <prefix>/refresh`.'),
    prefix: z.string().regex(/^\/[^?#]*[^/]$/).default('/auth').describe('Path prefix of the password and refresh endpoints (the seed: `/auth`).'),
    accessTtlSeconds: z.number().int().min(60).max(86400).default(3600).describe('Access token (JWT) lifetime, `expires_in` (the seed: 1 hour).'),
    refreshTtlSeconds: z.number().int().min(60).max(365 * 86400).default(30 * 86400).describe('Refresh token lifetime (the seed: long-lived, expiring "in very rare cases").'),
    jwtIssuer: z.string().min(1).default('trackgate').describe('`iss` claim of the access tokens.'),
    jwtAudience: z.string().min(1).default('trackgate:oauth2_password').describe('`aud` claim of the access tokens; keep it different from `identity.audience`.'),
    scope: z.string().optional().describe('`scope` claim of the access tokens, when set.'),
  }),
  create(options, deps) {
    const base = options.prefix;
    const jwt = (subject: Subject) => accessJwt(deps, subject, { issuer: options.jwtIssuer, audience: options.jwtAudience, scope: options.scope });
    const renderPair = (pair: TokenPair): IssueReply => ({
      status: 200,
      body: {
        access_token: pair.access.value,
        refresh_token: pair.refresh.value,
        token_type: 'bearer',
        expires_in: secondsLeft(pair.access.expiresAt, deps.now()),
      },
    });
    return {
      id: ID,
      routes: [
        {
          method: 'POST', path: `${base}/password`,
          doc: { summary: 'OAuth 2.0 password grant: an access token (JWT) and a rotating refresh token.', fields: { grant_type: false, username: true, password: true }, sample: () => renderPair(samplePair(deps.now())).body },
          async handle(req) {
            const body = await req.body();
            const grantType = stringField(body, 'grant_type');
            if (grantType !== undefined && grantType !== 'password') {
              throw oauthError('unsupported_grant_type', 'only grant_type=password is supported here', 'TG_ERR_BAD_REQUEST', 'malformed');
            }
            const username = stringField(body, 'username');
            const password = stringField(body, 'password');
            if (username === undefined || username === '' || password === undefined) {
              throw oauthError('invalid_request', 'username and password required', 'TG_ERR_BAD_REQUEST', 'malformed');
            }
            const user = await checkUserPassword(deps, req, username, password).catch((err: unknown) => {
              // RFC 6749 §5.2: bad resource-owner credentials are 400 invalid_grant.
              if (err instanceof TrackgateError && err.code === 'TG_ERR_INVALID_CREDENTIALS') {
                throw oauthError('invalid_grant', err.message, err.code, 'invalid', 400, err.detail);
              }
              throw err;
            });
            const subject: Subject = {
              subject: user.id ?? user.username, kind: 'user',
              ...(user.accounts[0] !== undefined ? { account: user.accounts[0] } : {}),
            };
            const pair = await deps.refresh.issuePair(subject, {
              issuer: ID, accessTtlSeconds: options.accessTtlSeconds, refreshTtlSeconds: options.refreshTtlSeconds, accessValue: jwt(subject),
            });
            return renderPair(pair);
          },
        },
      ],
      refresh: { path: `${base}/refresh`, fields: ['refresh_token', 'refreshToken'], renderPair, accessValueFor: jwt },
      renderError(err) {
        const code = wireCodeOf(err) ?? oauthCodeOf(err);
        return { status: err.status, body: { error: code, error_description: err.message } };
      },
    };
  },
});

function oauthError(
  code: string, message: string, tgCode: 'TG_ERR_BAD_REQUEST' | 'TG_ERR_INVALID_CREDENTIALS', reason: 'malformed' | 'invalid', status?: number, detail?: string,
): WireError {
  return new WireError(code, tgCode, message, { reason, ...(status !== undefined ? { status } : {}), ...(detail !== undefined ? { detail } : {}) });
}

/** RFC 6749 §5.2 (and RFC 8628 `slow_down`) codes for trackgate's own errors. */
function oauthCodeOf(err: TrackgateError): string {
  switch (err.code) {
    case 'TG_ERR_INVALID_CREDENTIALS':
    case 'TG_ERR_EXPIRED_CREDENTIALS':
      return 'invalid_grant';
    case 'TG_ERR_THROTTLED':
      return 'slow_down';
    default:
      return err.status >= 500 ? (err.status === 503 ? 'temporarily_unavailable' : 'server_error') : 'invalid_request';
  }
}
