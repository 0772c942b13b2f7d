/**
 * `POST <prefix>/masquerade` (JSON or form) `account_id`, authorised by the session's token in
 * `Authorization: Bearer` or the seed's `Authentication: Bearer`: a new session bound to that account, in the
 * login's shape, if the accounts file lists the account for the token's user (else 403).
 *
 * "Bearer tokens are only associated with a single account at any time": the presented session (its token and
 * refresh token) is revoked, unless `masqueradeKeepsPrevious`. The revocation is the atomic step: of two
 * masquerades racing on one token only the one that revokes it gets a session. The new session's identities
 * carry the user as `act` (RFC 8693), so the upstream and the logs can tell a masquerade from a login.
 */
import { authorizationParams } from '../../../authn/authorization-header.js';
import { singleToken } from '../../../authn/stored-token.js';
import { TrackgateError } from '../../../errors.js';
import { stringField } from '../../body.js';
import type { Subject } from '../../tokens.js';
import type { IssueReply, IssueRequest } from '../../types.js';
import { accountIdField, accountOf } from './accounts.js';
import { ID, type FleetLoginContext } from './options.js';
import { openSession, renderPair } from './pair.js';

const CHALLENGE = { 'www-authenticate': 'Bearer realm="trackgate"' };

export async function masquerade(ctx: FleetLoginContext, req: IssueRequest): Promise<IssueReply> {
  const { options, deps } = ctx;
  const token = sessionToken(req);
  const body = await req.body();
  const accountId = accountIdField(body);
  if (accountId === undefined || accountId === '') {
    throw new TrackgateError('TG_ERR_BAD_REQUEST', 'account_id required', { reason: 'malformed' });
  }
  const rec = await deps.tokens.lookup(token);
  if (!deps.tokens.live(rec) || rec.type !== 'access' || rec.issuer !== ID) {
    throw invalidToken(rec === undefined ? 'unknown token' : `not a live ${ID} access token`);
  }
  const user = deps.accounts().userBySubject(rec.subject);
  if (user === undefined) throw invalidToken('the token\'s user is no longer in the accounts file');
  const account = accountOf(user, accountId);
  if (!options.masqueradeKeepsPrevious && rec.family !== undefined) {
    const revoked = await deps.store.revokeFamily(rec.family, deps.now());
    if (!revoked.includes(rec.digest)) throw invalidToken('the session was revoked meanwhile (a concurrent masquerade or logout)');
  }
  const subject: Subject = { subject: rec.subject, kind: 'user', account };
  const actor = typeof rec.data?.act === 'string' ? rec.data.act : rec.subject;
  return renderPair(deps, await openSession(ctx, subject, actor));
}

/** The one Bearer token of the request's `Authorization` and `Authentication` headers; 401 without one. */
function sessionToken(req: IssueRequest): string {
  const token = singleToken([
    ['Authorization', bearerIn(req, 'authorization')],
    ['Authentication', bearerIn(req, 'authentication')],
  ]);
  if (token === undefined) {
    throw new TrackgateError('TG_ERR_NO_CREDENTIALS', 'a Bearer token is required', { reason: 'no_credentials', headers: CHALLENGE });
  }
  return token;
}

function bearerIn(req: IssueRequest, header: string): string[] {
  const t = authorizationParams(req.view, 'Bearer', header);
  return t === undefined ? [] : [t];
}

function invalidToken(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid token', { reason: 'invalid', detail, headers: CHALLENGE });
}
