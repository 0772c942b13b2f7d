/**
 * Fleet-tracking REST API bearer login (seed: bearer-token-login.txt):
 *
 * `POST /auth/login` (JSON or form) `username`, `password` [, `account_id`] →
 * `200 {success: true, guid, token, tokenExpiration, tokenLifetime, refreshToken, refreshTokenExpiration}`,
 * times as ISO 8601 with a `+00:00` offset and whole seconds, as the seed shows them.
 *
 * - "Bearer tokens are only associated with a single account at any time": the token is bound to
 *   `account_id` when the user has that account (else 403), to the user's first account when absent.
 *   `account_id` is an integer in the seed: it names the account with that `id` in the accounts file
 *   (`accounts: [{name, id}]`; a form body's digits too), or an account by name (older clients, strings).
 * - `guid` is the session: the refresh family id, kept in the pair's data, so every refresh answers the same guid.
 * - The seed names no refresh path ("make a separate API call to refresh your auth session … pass the
 *   refreshToken value"): clients `POST <prefix>/refresh` with JSON `{"refreshToken": …}` (or form
 *   `refresh_token`) and get this login shape back. That endpoint is shared with oauth2_password
 *   (shared-refresh.ts): this dialect declares it too, so it exists whether or not oauth2_password is enabled.
 * - Tokens are opaque (256 random bits, stored as digests), sent as `Authorization: Bearer <token>` or, as
 *   the seed's own example spells it, `Authentication: Bearer <token>`. Refreshing does not revoke the
 *   previous token: it stays valid until its `tokenExpiration`; revoking the family kills it.
 *
 * Every failure is `{success: false, message}` with the HTTP status: 400 malformed, 401 bad credentials or
 * refresh token, 403 an account the user does not have, 429 throttled (with Retry-After).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { UserRecord } from '../../accounts/schema.js';
import { TrackgateError } from '../../errors.js';
import { secondsLeft } from '../access-jwt.js';
import { stringField } from '../body.js';
import { checkUserPassword } from '../password-login.js';
import type { TokenPair } from '../refresh.js';
import type { Subject } from '../tokens.js';
import { defineDialect, type IssueReply } from '../types.js';

const ID = 'fleet_login';

export const fleetLogin = defineDialect({
  id: ID,
  options: z.object({
    enabled: z.boolean().default(true).describe('Serve the fleet-tracking bearer login: `POST <prefix>/login` (and `POST <prefix>/refresh`, shared with oauth2_password).'),
    prefix: z.string().regex(/^\/[^?#]*[^/]$/).default('/auth').describe('Path prefix of the login and refresh endpoints (the seed: `/auth`).'),
    accessTtlSeconds: z.number().int().min(60).max(86400).default(3600).describe('Bearer token lifetime, `tokenLifetime` (the seed: 3600).'),
    refreshTtlSeconds: z.number().int().min(60).max(365 * 86400).default(30 * 86400).describe('Refresh token lifetime, `refreshTokenExpiration` (the seed shows about a month).'),
  }),
  create(options, deps) {
    const base = options.prefix;
    const renderPair = (pair: TokenPair): IssueReply => ({
      status: 200,
      body: {
        success: true,
        guid: typeof pair.data?.guid === 'string' ? pair.data.guid : pair.family,
        token: pair.access.value,
        tokenExpiration: isoSeconds(pair.access.expiresAt),
        tokenLifetime: secondsLeft(pair.access.expiresAt, deps.now()),
        refreshToken: pair.refresh.value,
        refreshTokenExpiration: isoSeconds(pair.refresh.expiresAt),
      },
    });
    return {
      id: ID,
      routes: [
        {
          method: 'POST', path: `${base}/login`,
          async handle(req) {
            const body = await req.body();
            const username = stringField(body, 'username');
            const password = stringField(body, 'password');
            const accountId = accountIdField(body);
            if (username === undefined || username === '' || password === undefined) {
              throw new TrackgateError('TG_ERR_BAD_REQUEST', 'username and password required', { reason: 'malformed' });
            }
            const user = await checkUserPassword(deps, req, username, password);
            let account: string | undefined = user.accounts[0];
            if (accountId !== undefined && accountId !== '') {
              account = accountOf(user, accountId);
              if (account === undefined) {
                throw new TrackgateError('TG_ERR_FORBIDDEN', 'this user has no access to that account', {
                  reason: 'forbidden', detail: `account_id not among the user's ${user.accounts.length} accounts`,
                });
              }
            }
            const subject: Subject = { subject: user.id ?? user.username, kind: 'user', ...(account !== undefined ? { account } : {}) };
            const family = randomUUID();
            const pair = await deps.refresh.issuePair(subject, {
              issuer: ID, accessTtlSeconds: options.accessTtlSeconds, refreshTtlSeconds: options.refreshTtlSeconds, data: { guid: family },
            }, family);
            return renderPair(pair);
          },
        },
      ],
      refresh: { path: `${base}/refresh`, fields: ['refreshToken', 'refresh_token'], renderPair },
      renderError(err) {
        return { status: err.status, body: { success: false, message: err.message } };
      },
    };
  },
});

/** `account_id`: an integer (the seed's type) or a string; another number (1.5, -1) → 400. */
function accountIdField(body: Record<string, unknown>): number | string | undefined {
  const v = body.account_id;
  if (typeof v !== 'number') return stringField(body, 'account_id');
  if (!Number.isSafeInteger(v) || v < 0) throw new TrackgateError('TG_ERR_BAD_REQUEST', 'account_id must be a non-negative integer', { reason: 'malformed' });
  return v;
}

/** The name of the user's account `id` selects: by integer id, else by name. */
function accountOf(user: Pick<UserRecord, 'accounts' | 'accountIds'>, id: number | string): string | undefined {
  const name = String(id);
  if (user.accounts.includes(name)) return name;
  const n = typeof id === 'number' ? id : /^\d{1,15}$/.test(id) ? Number(id) : undefined;
  return n === undefined ? undefined : user.accountIds?.get(n);
}

/** `2018-04-01T21:39:12+00:00`: the seed's format (UTC, whole seconds, numeric offset). */
export function isoSeconds(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}+00:00`;
}
