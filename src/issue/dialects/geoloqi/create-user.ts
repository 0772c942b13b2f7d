/**
 * `POST <prefix>/user/create`: a named user with a password (scrypt), and its token. A `key` that already has a
 * user of this application de-duplicates as in `create_anon` (the seed: "See De-Duplication"): that user and a new
 * token when the client secret was verified, else 409 `duplicate_key`. Otherwise a username taken in the
 * accounts file or the store → 409 `duplicate_username`.
 */
import { hashPassword } from '../../../accounts/password.js';
import { stringField } from '../../body.js';
import type { IssueReply, IssueRequest } from '../../types.js';
import { authenticateClient } from './client.js';
import { duplicateKey, duplicateUsername, geoError } from './errors.js';
import { displayNameField, emailField, extraField, keyField, MAX_PASSWORD, usernameField } from './fields.js';
import type { GeoloqiContext } from './options.js';
import { existingKey, issueUserToken, storeUser, userReply } from './users.js';

export async function createUser(ctx: GeoloqiContext, req: IssueRequest): Promise<IssueReply> {
  const { options, deps } = ctx;
  const body = await req.body();
  const client = await authenticateClient(deps, req, body, false);
  const clientId = client.app.clientId;
  const username = usernameField(body);
  const password = stringField(body, 'password');
  if (password === undefined || password.length < options.minPasswordLength || password.length > MAX_PASSWORD) {
    throw geoError(400, 'invalid_request', `password must be ${options.minPasswordLength} to ${MAX_PASSWORD} characters`, 'TG_ERR_BAD_REQUEST', 'malformed');
  }
  const email = emailField(body);
  const name = displayNameField(body);
  const key = keyField(body);
  const extra = extraField(body);
  if (key !== undefined) {
    const existing = await deps.store.getUserByKey(clientId, key);
    if (existing !== undefined) return existingKey(ctx, existing, client);
  }
  // Cheap check before the password hash; storeUser re-checks atomically.
  if (deps.accounts().user(username) !== undefined || await deps.store.getUserByUsername(username) !== undefined) throw duplicateUsername();
  const hash = await hashPassword(password);
  const { user, result } = await storeUser(ctx, (id) => ({
    id, username, password: hash, app: clientId, anonymous: false, displayName: name ?? username, createdAt: deps.now(),
    ...(email !== undefined ? { email } : {}), ...(key !== undefined ? { key } : {}), ...(extra !== undefined ? { extra } : {}),
  }));
  if (result === 'duplicate_username') throw duplicateUsername();
  if (result === 'duplicate_key') {
    // A concurrent request with the same key won: answer as if it had come first.
    const existing = key === undefined ? undefined : await deps.store.getUserByKey(clientId, key);
    if (existing === undefined) throw duplicateKey();
    return existingKey(ctx, existing, client);
  }
  return userReply(user, await issueUserToken(ctx, user, clientId));
}
