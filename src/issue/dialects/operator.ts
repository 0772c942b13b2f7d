/**
 * Operator endpoints for the tokens trackgate issues (every dialect's: GPS session tokens, Geoloqi and other
 * access tokens, refresh tokens, JWT access tokens, all stored by digest):
 *
 * | endpoint                  | RFC  | request (form-urlencoded; JSON accepted)   | 200                                         |
 * |---------------------------|------|--------------------------------------------|---------------------------------------------|
 * | `POST /oauth/revoke`      | 7009 | `token` [, `token_type_hint`]              | empty, also for unknown or already revoked tokens (§2.2) |
 * | `POST /oauth/introspect`  | 7662 | `token` [, `token_type_hint`]              | `{active: true, sub, kind, token_type, exp, iat, issuer, client_id?, account?, instance?}` or `{active: false}` |
 *
 * Who may call them: an admin. The request is authenticated by the proxy's own pipeline (`req.authenticate()`),
 * so exactly the same rules, throttles and caches apply as on the proxy path: the usual credentials are HTTP
 * Basic `email:password` of an accounts-file admin plus that admin's `InstanceId` header (the `instance` form,
 * which must be enabled); an admin's access token from the telematics admin login is an admin identity too.
 * No or bad credentials → 401 `invalid_client` (with the challenges); a valid identity that is not an admin
 * (or an admin of an InstanceId not in `instances`) → 403 `access_denied`. Errors are RFC 6749 §5.2 JSON.
 *
 * Revoking a refresh token revokes its whole family (the access tokens issued with it and its successors:
 * RFC 7009 §2.1 lets the server do so, and a refresh token an operator distrusts taints what it produced).
 * Revoking an access token revokes that token only. `token_type_hint` is accepted and not needed: every token
 * is found by its digest whatever its type. A revocation is a store event: every replica's validation cache
 * drops the token at once, and WebSockets opened with it are closed (4401).
 */
import { z } from 'zod';
import { lookupDigest } from '../../accounts/digest-token.js';
import { MAX_TOKEN_LENGTH } from '../../authn/stored-token.js';
import type { Identity } from '../../authn/types.js';
import { TrackgateError, type ErrorCode } from '../../errors.js';
import type { TokenRecord } from '../../store/types.js';
import { stringField } from '../body.js';
import { defineDialect, type IssueRequest } from '../types.js';
import { WireError, wireCodeOf } from '../wire-error.js';

const ID = 'operator';
const CHALLENGE = 'Basic realm="trackgate operator"';

export const operator = defineDialect({
  id: ID,
  options: z.object({
    enabled: z.boolean().default(true).describe('Serve RFC 7009 revocation (`POST <prefix>/revoke`) and RFC 7662 introspection (`POST <prefix>/introspect`) of issued tokens, for accounts-file admins (HTTP Basic `email:password` plus the `InstanceId` header: needs `authn.instance`).'),
    prefix: z.string().regex(/^\/[^?#]*[^/]$/).default('/oauth').describe('Path prefix of the revoke and introspect endpoints.'),
    instances: z.array(z.string().min(1)).default([]).describe('InstanceIds whose admins may call these endpoints; empty: every admin in the accounts file.'),
  }),
  create(options, deps) {
    const base = options.prefix;

    const requireAdmin = async (req: IssueRequest): Promise<Identity> => {
      const auth = await req.authenticate();
      if (auth === undefined) {
        throw opError(401, 'invalid_client', 'operator credentials required', 'TG_ERR_NO_CREDENTIALS', 'no credentials', { 'www-authenticate': CHALLENGE });
      }
      const id = auth.identity;
      if (id.kind !== 'admin') throw opError(403, 'access_denied', 'admin credentials required', 'TG_ERR_FORBIDDEN', `${id.kind} ${id.scheme} identity`);
      if (options.instances.length > 0 && !options.instances.includes(id.instance ?? '')) {
        throw opError(403, 'access_denied', 'admin credentials required', 'TG_ERR_FORBIDDEN', `admin of instance ${id.instance ?? '(none)'} not in issue.operator.instances`);
      }
      return id;
    };

    /** The record `token` stands for, or undefined (unknown, or too long to be a token). */
    const find = async (req: IssueRequest): Promise<TokenRecord | undefined> => {
      const body = await req.body();
      const token = stringField(body, 'token');
      if (token === undefined || token === '') throw opError(400, 'invalid_request', 'token required', 'TG_ERR_BAD_REQUEST', 'no token parameter');
      stringField(body, 'token_type_hint'); // validated (a string, if present), not needed: lookup is by digest
      if (token.length > MAX_TOKEN_LENGTH) return undefined;
      return deps.store.getToken(lookupDigest(token));
    };

    return {
      id: ID,
      routes: [
        {
          method: 'POST', path: `${base}/revoke`,
          doc: { summary: 'RFC 7009 revocation by an operator (admin credentials); 200 whether or not the token was known.', fields: { token: true, token_type_hint: false }, forms: ['basic', 'instance'] },
          async handle(req) {
            const admin = await requireAdmin(req);
            const rec = await find(req);
            if (rec !== undefined) {
              const now = deps.now();
              const family = rec.type === 'refresh' && rec.family !== undefined ? await deps.store.revokeFamily(rec.family, now) : [];
              if (rec.revokedAt === undefined && !family.includes(rec.digest)) await deps.store.revokeTokens([rec.digest], now);
              deps.logger.info({
                operator: admin.subject, digest: shortDigest(rec.digest), type: rec.type, issuer: rec.issuer, sub: rec.subject,
                family: family.length, already: rec.revokedAt !== undefined,
              }, 'token revoked by operator');
            }
            // RFC 7009 §2.2: 200 whether or not the token was known (nothing to learn from the answer).
            return { status: 200 };
          },
        },
        {
          method: 'POST', path: `${base}/introspect`,
          doc: { summary: 'RFC 7662 introspection by an operator (admin credentials).', fields: { token: true, token_type_hint: false }, forms: ['basic', 'instance'] },
          async handle(req) {
            await requireAdmin(req);
            const rec = await find(req);
            const now = deps.now();
            if (rec === undefined || rec.revokedAt !== undefined || rec.expiresAt <= now) return { status: 200, body: { active: false } };
            const clientId = rec.data?.client_id;
            return {
              status: 200,
              body: {
                active: true,
                sub: rec.subject,
                kind: rec.kind,
                token_type: rec.type === 'access' ? 'access_token' : rec.type === 'refresh' ? 'refresh_token' : rec.type,
                exp: Math.floor(rec.expiresAt / 1000),
                iat: Math.floor(rec.issuedAt / 1000),
                issuer: rec.issuer,
                ...(typeof clientId === 'string' ? { client_id: clientId } : {}),
                ...(rec.account !== undefined ? { account: rec.account } : {}),
                ...(rec.instance !== undefined ? { instance: rec.instance } : {}),
              },
            };
          },
        },
      ],
      renderError(err) {
        const code = wireCodeOf(err) ?? codeOf(err);
        return { status: err.status, body: { error: code, error_description: err.message } };
      },
    };
  },
});

/** `sha256:` and the first 12 hex digits: enough for logs, never the token. */
export function shortDigest(digest: string): string {
  return digest.slice(0, 'sha256:'.length + 12);
}

function opError(status: number, code: string, message: string, tgCode: ErrorCode, detail: string, headers?: Record<string, string>): WireError {
  return new WireError(code, tgCode, message, {
    status, detail, reason: status === 401 ? 'no_credentials' : status === 403 ? 'forbidden' : 'malformed', ...(headers !== undefined ? { headers } : {}),
  });
}

function codeOf(err: TrackgateError): string {
  if (err.status === 401) return 'invalid_client';
  if (err.status === 403) return 'access_denied';
  if (err.code === 'TG_ERR_THROTTLED') return 'slow_down';
  if (err.status >= 500) return err.status === 503 ? 'temporarily_unavailable' : 'server_error';
  return 'invalid_request';
}
