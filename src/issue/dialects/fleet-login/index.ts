/**
 * Fleet-tracking REST API bearer login (seed: bearer-token-login.txt), under `prefix` (`/auth`):
 *
 * | endpoint                 | request                                              | 200                                      |
 * |--------------------------|------------------------------------------------------|------------------------------------------|
 * | `POST /auth/login`       | `username`, `password` [, `account_id`]              | `{success: true, guid, token, tokenExpiration, tokenLifetime, refreshToken, refreshTokenExpiration}` |
 * | `POST /auth/masquerade`  | `account_id`, with `Authorization`/`Authentication: Bearer <token>` | the same shape: a new session bound to that account |
 * | `POST /auth/refresh`     | `refreshToken` (JSON) or `refresh_token` (form)      | the same shape                           |
 *
 * Bodies are JSON or form-urlencoded; times are ISO 8601 with a `+00:00` offset and whole seconds, as the seed
 * shows them.
 *
 * - "Bearer tokens are only associated with a single account at any time": a session is bound to one of the
 *   accounts the accounts file lists for its user (`login.ts`); `masquerade.ts` moves to another by opening a
 *   new session and revoking the presented one (unless `masqueradeKeepsPrevious`).
 * - `guid` is the session: the refresh family id, kept in the pair's data, so every refresh answers the same guid.
 * - The seed names no refresh path ("make a separate API call to refresh your auth session … pass the
 *   refreshToken value"): clients `POST <prefix>/refresh` and get this login shape back. That endpoint is shared
 *   with oauth2_password (shared-refresh.ts): this dialect declares it too, so it exists whether or not
 *   oauth2_password is enabled.
 * - Tokens are opaque (256 random bits, stored as digests), sent as `Authorization: Bearer <token>` or, as
 *   the seed's own example spells it, `Authentication: Bearer <token>`. Refreshing does not revoke the
 *   previous token: it stays valid until its `tokenExpiration`; revoking the family kills it.
 *
 * Every failure is `{success: false, message}` with the HTTP status: 400 malformed, 401 bad credentials,
 * refresh token or session token, 403 an account the user does not have, 429 throttled (with Retry-After).
 */
import { defineDialect } from '../../types.js';
import { login } from './login.js';
import { masquerade } from './masquerade.js';
import { fleetLoginOptions, ID } from './options.js';
import { renderPair } from './pair.js';
import { samplePair } from '../../sample-pair.js';

export const fleetLogin = defineDialect({
  id: ID,
  options: fleetLoginOptions,
  create(options, deps) {
    const ctx = { options, deps };
    const base = options.prefix;
    const sample = (): unknown => renderPair(deps, samplePair(deps.now())).body;
    return {
      id: ID,
      routes: [
        {
          method: 'POST', path: `${base}/login`, handle: (req) => login(ctx, req),
          doc: { summary: 'A bearer token and refresh token, bound to one of the user\'s accounts.', fields: { username: true, password: true, account_id: false }, sample },
        },
        {
          method: 'POST', path: `${base}/masquerade`, handle: (req) => masquerade(ctx, req),
          doc: { summary: 'A new session bound to another of the user\'s accounts; the presented one is revoked.', fields: { account_id: true }, forms: ['bearer'], sample },
        },
      ],
      refresh: { path: `${base}/refresh`, fields: ['refreshToken', 'refresh_token'], renderPair: (pair) => renderPair(deps, pair) },
      renderError(err) {
        return { status: err.status, body: { success: false, message: err.message } };
      },
    };
  },
});
