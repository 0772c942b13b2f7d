/**
 * GPS Data Web Service REST v2 (seed: gps-data-web-service-auth.txt), its URL table exactly:
 *
 * | URL         | GET, unauthenticated           | POST, unauthenticated                 | GET, authenticated  |
 * |-------------|--------------------------------|---------------------------------------|---------------------|
 * | token       | 401 `WWW-Authenticate: X-Token`| username+password or key [, duration] | redirect to gateway |
 * |             |                                | → 303 to gateway, 400 on bad creds    |                     |
 * | auth-basic  | 401 `WWW-Authenticate: Basic`  | 405                                   | redirect to gateway |
 * | auth-digest | 401 `WWW-Authenticate: Digest` | 405                                   | redirect to gateway |
 *
 * The token is returned in `Location: gateway?_token=…` and a `token` cookie. The redirect target is always
 * the configured gateway, never anything taken from the request (no open redirect). The seed says a token
 * "can be revoked at any time" and names no URL for it: `POST logout` with the token revokes it.
 */
import { z } from 'zod';
import { TrackgateError } from '../../errors.js';
import { lookupDigest } from '../../accounts/digest-token.js';
import type { UserRecord } from '../../accounts/schema.js';
import { stringField } from '../body.js';
import { defineDialect, type IssueReply, type IssueRequest } from '../types.js';

export const gpsRestV2 = defineDialect({
  id: 'gps_rest_v2',
  options: z.object({
    enabled: z.boolean().default(true).describe('Serve the GPS REST v2 token, auth-basic and auth-digest URLs.'),
    prefix: z.string().regex(/^\/[^?#]*[^/]$/).default('/rest/v2').describe('Path prefix of the token, auth-basic, auth-digest and gateway URLs.'),
    gateway: z.string().default('gateway').describe('Redirect target after authentication, relative to the prefix (as the seed\'s `Location: gateway?_token=…`).'),
    defaultDurationSeconds: z.number().int().min(1).max(86400).default(3600).describe('Token lifetime when the client sends no `duration`.'),
    maxDurationSeconds: z.number().int().min(1).max(86400).default(86400).describe('Longest `duration` a client may ask for (the seed: 24 hours).'),
    cookiePath: z.string().default('/').describe('Path attribute of the `token` cookie.'),
  }),
  create(options, deps) {
    const base = options.prefix;
    const redirect = (extra: Record<string, string | string[]> = {}, query = ''): IssueReply => ({
      status: 303, headers: { location: `${options.gateway}${query}`, ...extra }, body: undefined,
    });
    // An authenticated GET of token/auth-basic/auth-digest redirects to the gateway.
    const getOrChallenge = (challenge: (req: IssueRequest) => string[]) => async (req: IssueRequest): Promise<IssueReply> => {
      const auth = await req.authenticate();
      if (auth !== undefined) return redirect();
      throw new TrackgateError('TG_ERR_NO_CREDENTIALS', 'authentication required', {
        reason: 'no_credentials', headers: { 'www-authenticate': challenge(req) },
      });
    };

    /** The `token` cookie; an expiry in the past (0) deletes it. */
    const tokenCookie = (value: string, expiresAt: number, req: IssueRequest): string => {
      const cookie = [`token=${value}`, `Expires=${new Date(expiresAt).toUTCString()}`, `Path=${options.cookiePath}`, 'HttpOnly', 'SameSite=Lax'];
      if (req.view.secure) cookie.push('Secure');
      return cookie.join('; ');
    };

    const checkPassword = async (req: IssueRequest, username: string, password: string): Promise<UserRecord> => {
      const keys = [{ scope: 'user' as const, value: username }, { scope: 'ip' as const, value: req.view.remoteAddress }];
      await deps.throttle.check(keys);
      const user = deps.accounts().user(username);
      const ok = await deps.passwords.verifyOne(user?.password, password, undefined, async () => deps.throttle.fail(keys));
      // A failure came from verifyOne, which recorded it with the throttle before its padding.
      if (!ok || user === undefined) {
        throw badCredentials(user === undefined ? 'unknown user' : 'wrong password');
      }
      await deps.throttle.succeed(keys);
      return user;
    };

    return {
      id: 'gps_rest_v2',
      routes: [
        { method: 'GET', path: `${base}/token`, handle: getOrChallenge(() => ['X-Token']), doc: { summary: 'The X-Token challenge (401); with a valid token, 200.', forms: ['session_token'] } },
        {
          method: 'POST', path: `${base}/token`,
          doc: { summary: 'A time-limited token from username + password or a web-service key: 303 to the gateway with `_token` and a `token` cookie.', fields: { username: false, password: false, key: false, duration: false }, success: 303 },
          async handle(req) {
            const body = await req.body();
            const key = stringField(body, 'key');
            const username = stringField(body, 'username');
            const password = stringField(body, 'password');
            const duration = parseDuration(body.duration, options.defaultDurationSeconds, options.maxDurationSeconds);
            let user: UserRecord;
            if (key !== undefined && key !== '') {
              const started = deps.passwords.start();
              const found = deps.accounts().userByWebServiceKey(lookupDigest(key));
              if (found === undefined) {
                // Looked up by value, so its time tells nothing; padded all the same, like every failed secret.
                await deps.passwords.failed(started);
                await deps.throttle.fail([{ scope: 'ip', value: req.view.remoteAddress }]);
                throw badCredentials('unknown web-service key');
              }
              user = found;
            } else if (username !== undefined && password !== undefined) {
              user = await checkPassword(req, username, password);
            } else {
              throw new TrackgateError('TG_ERR_BAD_REQUEST', 'username and password, or key, required', { reason: 'malformed' });
            }
            const { value, record } = await deps.tokens.issue({
              type: 'session', issuer: 'gps_rest_v2', subject: user.id ?? user.username, kind: 'user',
              ...(user.accounts[0] !== undefined ? { account: user.accounts[0] } : {}),
              ttlSeconds: duration,
            });
            return redirect({ 'set-cookie': tokenCookie(value, record.expiresAt, req) }, `?_token=${encodeURIComponent(value)}`);
          },
        },
        {
          method: 'POST', path: `${base}/logout`,
          doc: { summary: 'Revokes the presented session token (on every replica) and clears the `token` cookie: 204.', forms: ['session_token'], success: 204 },
          async handle(req) {
            // The token proves the right to end its own session (as a public client's RFC 7009 revocation).
            const auth = await req.authenticate();
            const digest = auth?.scheme === 'session_token' ? auth.identity.tokenDigest : undefined;
            if (digest === undefined) {
              throw new TrackgateError('TG_ERR_NO_CREDENTIALS', 'a session token is required', {
                reason: 'no_credentials', headers: { 'www-authenticate': ['X-Token'] },
              });
            }
            await deps.store.revokeTokens([digest], deps.now());
            return { status: 204, headers: { 'set-cookie': tokenCookie('', 0, req) }, body: undefined };
          },
        },
        { method: 'GET', path: `${base}/auth-basic`, handle: getOrChallenge((req) => req.challengeOf('basic')), doc: { summary: 'The Basic challenge (401); with valid Basic credentials, 200.', forms: ['basic'] } },
        { method: 'POST', path: `${base}/auth-basic`, handle: methodNotAllowed, doc: { summary: 'Always 405 (the seed\'s URL table: GET only).' } },
        { method: 'GET', path: `${base}/auth-digest`, handle: getOrChallenge((req) => req.challengeOf('digest')), doc: { summary: 'The Digest challenges (401); with valid Digest credentials, 200.', forms: ['digest'] } },
        { method: 'POST', path: `${base}/auth-digest`, handle: methodNotAllowed, doc: { summary: 'Always 405 (the seed\'s URL table: GET only).' } },
      ],
      renderError(err) {
        // The seed answers bad credentials with a plain 400; everything else keeps its own status.
        const status = err.code === 'TG_ERR_INVALID_CREDENTIALS' ? 400 : err.status;
        return { status, body: err.toBody() };
      },
    };
  },
});

async function methodNotAllowed(): Promise<IssueReply> {
  throw new TrackgateError('TG_ERR_METHOD_NOT_ALLOWED', 'method not allowed', { headers: { allow: 'GET' } });
}

function badCredentials(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'bad credentials', { reason: 'invalid', detail });
}

function parseDuration(raw: unknown, dflt: number, max: number): number {
  if (raw === undefined || raw === null || raw === '') return dflt;
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new TrackgateError('TG_ERR_BAD_REQUEST', `duration must be an integer from 1 to ${max} seconds`, { reason: 'malformed' });
  }
  return n;
}
