/**
 * `POST <prefix>/user/delete` `user_id`, with the client id and secret ("API Key and Secret are used when
 * applications need to create or delete users"): the user and every token of theirs are gone, on every replica
 * (one store step; its revocation event evicts the validation caches and closes the user's WebSockets). An
 * application deletes only users it created: another application's user, an accounts-file user and an unknown
 * id all answer the same 404, so no application learns which ids exist elsewhere.
 */
import { stringField } from '../../body.js';
import type { IssueReply, IssueRequest } from '../../types.js';
import { authenticateClient } from './client.js';
import { badField, notFound } from './errors.js';
import type { GeoloqiContext } from './options.js';

export async function deleteUser({ deps }: GeoloqiContext, req: IssueRequest): Promise<IssueReply> {
  const body = await req.body();
  const client = await authenticateClient(deps, req, body, true);
  const userId = stringField(body, 'user_id');
  if (userId === undefined || userId === '') throw badField('user_id required');
  const user = await deps.store.getUser(userId);
  if (user === undefined || user.app !== client.app.clientId) {
    throw notFound(user === undefined ? 'no stored user with this id' : 'the user belongs to another application');
  }
  const revoked = await deps.store.deleteUser(user.id, deps.now());
  if (revoked === undefined) throw notFound('deleted meanwhile by another request');
  deps.logger.info({ user_id: user.id, client_id: client.app.clientId, tokens: revoked.length }, 'geoloqi: user deleted');
  return { status: 200, body: { result: 'ok', user_id: user.id } };
}

