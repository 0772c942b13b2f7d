/**
 * `POST <prefix>/oauth/token`: `grant_type=client_credentials` (client id and secret) gives an application
 * token (`kind: app`, `sub` = client id); `grant_type=password` (`username`, `password`, the client id with or
 * without its secret) gives a user token. Both answer `{access_token, token_type: "bearer", expires_in}`.
 */
import type { ThrottleKey } from '../../../store/throttle.js';
import { secondsLeft } from '../../access-jwt.js';
import { stringField } from '../../body.js';
import type { Subject } from '../../tokens.js';
import type { IssueDeps, IssueReply, IssueRequest } from '../../types.js';
import { authenticateClient } from './client.js';
import { geoError } from './errors.js';
import { ensureNotDeleted } from './users.js';
import { ID, type GeoloqiContext } from './options.js';

export async function oauthToken(ctx: GeoloqiContext, req: IssueRequest): Promise<IssueReply> {
  const { options, deps } = ctx;
  const body = await req.body();
  const grantType = stringField(body, 'grant_type');
  if (grantType === 'client_credentials') {
    const client = await authenticateClient(deps, req, body, true);
    const { value, record } = await deps.tokens.issue({
      type: 'access', issuer: ID, subject: client.app.clientId, kind: 'app',
      ttlSeconds: options.appTokenTtlSeconds, data: { client_id: client.app.clientId },
    });
    return tokenReply(deps, value, record.expiresAt);
  }
  if (grantType === 'password') {
    const username = stringField(body, 'username');
    const password = stringField(body, 'password');
    if (username === undefined || username === '' || password === undefined) {
      throw geoError(400, 'invalid_request', 'username and password required', 'TG_ERR_BAD_REQUEST', 'malformed');
    }
    const client = await authenticateClient(deps, req, body, false);
    const { subject, stored } = await checkPassword(deps, req, username, password);
    const { value, record } = await deps.tokens.issue({
      ...subject, type: 'access', issuer: ID, ttlSeconds: options.userTokenTtlSeconds, data: { client_id: client.app.clientId },
    });
    if (stored) await ensureNotDeleted(ctx, subject.subject, record.digest);
    return tokenReply(deps, value, record.expiresAt);
  }
  if (grantType === undefined || grantType === '') {
    throw geoError(400, 'invalid_request', 'grant_type required', 'TG_ERR_BAD_REQUEST', 'malformed');
  }
  throw geoError(400, 'unsupported_grant_type', 'grant_type must be client_credentials or password', 'TG_ERR_BAD_REQUEST', 'malformed');
}

function tokenReply(deps: IssueDeps, value: string, expiresAt: number): IssueReply {
  return { status: 200, body: { access_token: value, token_type: 'bearer', expires_in: secondsLeft(expiresAt, deps.now()) } };
}

/**
 * The password grant's user: the accounts file first, then users created through this dialect (`stored`).
 * Throttled per user name and address like every password check; an unknown user costs a dummy hash.
 */
async function checkPassword(deps: IssueDeps, req: IssueRequest, username: string, password: string): Promise<{ subject: Subject; stored: boolean }> {
  const keys: ThrottleKey[] = [{ scope: 'user', value: username }, { scope: 'ip', value: req.view.remoteAddress }];
  await deps.throttle.check(keys);
  // Timed from before the lookup: the store round trip for names not in the accounts file is inside the floor.
  const started = deps.passwords.start();
  const fileUser = deps.accounts().user(username);
  let subject: Subject | undefined;
  let stored = false;
  let hash: string | undefined;
  if (fileUser !== undefined) {
    hash = fileUser.password;
    subject = { subject: fileUser.id ?? fileUser.username, kind: 'user', ...(fileUser.accounts[0] !== undefined ? { account: fileUser.accounts[0] } : {}) };
  } else {
    const user = await deps.store.getUserByUsername(username.normalize('NFC'));
    if (user !== undefined) {
      hash = user.password;
      subject = { subject: user.id, kind: user.anonymous ? 'anonymous' : 'user' };
      stored = true;
    }
  }
  const ok = await deps.passwords.verifyOne(hash, password, started, async () => deps.throttle.fail(keys));
  // A failure came from verifyOne, which recorded it with the throttle before its padding.
  if (!ok || subject === undefined) {
    throw geoError(400, 'invalid_grant', 'Invalid username or password.', 'TG_ERR_INVALID_CREDENTIALS', 'invalid',
      subject === undefined ? 'unknown user' : hash === undefined ? 'user has no password' : 'wrong password');
  }
  await deps.throttle.succeed(keys);
  return { subject, stored };
}
