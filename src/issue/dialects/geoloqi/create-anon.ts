/**
 * `POST <prefix>/user/create_anon`: a new anonymous user (`username: "_…"`, no password) and its token. A
 * de-duplication `key` that already has a user answers with that user and a new token, but only when the
 * client secret was verified; without it, 409 `duplicate_key`, exactly as the seed shows.
 */
import { TrackgateError } from '../../../errors.js';
import type { IssueReply, IssueRequest } from '../../types.js';
import { authenticateClient } from './client.js';
import { extraField, keyField } from './fields.js';
import type { GeoloqiContext } from './options.js';
import { existingKey, issueUserToken, randomString, storeUser, userReply } from './users.js';

export async function createAnon(ctx: GeoloqiContext, req: IssueRequest): Promise<IssueReply> {
  const { deps } = ctx;
  const body = await req.body();
  const client = await authenticateClient(deps, req, body, false);
  const key = keyField(body);
  const extra = extraField(body);
  const clientId = client.app.clientId;
  if (key !== undefined) {
    const existing = await deps.store.getUserByKey(clientId, key);
    if (existing !== undefined) return existingKey(ctx, existing, client);
  }
  const { user, result } = await storeUser(ctx, (id) => ({
    id, username: `_${randomString(17)}`, app: clientId, anonymous: true, displayName: 'Anonymous', createdAt: deps.now(),
    ...(key !== undefined ? { key } : {}), ...(extra !== undefined ? { extra } : {}),
  }));
  if (result === 'created') return userReply(user, await issueUserToken(ctx, user, clientId));
  if (result === 'duplicate_key' && key !== undefined) {
    // A concurrent request with the same key won: answer as if it had come first.
    const existing = await deps.store.getUserByKey(clientId, key);
    if (existing !== undefined) return existingKey(ctx, existing, client);
  }
  throw new TrackgateError('TG_ERR_INTERNAL', 'internal error', { detail: `create_anon: ${result}` });
}
