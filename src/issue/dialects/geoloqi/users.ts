/**
 * Users created through the Geoloqi endpoints: durable in the store (its source of truth), answered in the
 * `user/create` shape with a fresh user access token.
 */
import { randomInt } from 'node:crypto';
import { TrackgateError } from '../../../errors.js';
import type { StoredUser } from '../../../store/types.js';
import type { IssueReply } from '../../types.js';
import type { Client } from './client.js';
import { geoError, notFound } from './errors.js';
import { ID, type GeoloqiContext } from './options.js';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A new access token for `user`, obtained by application `clientId`. */
export async function issueUserToken(ctx: GeoloqiContext, user: StoredUser, clientId: string): Promise<string> {
  const { options, deps } = ctx;
  const { value, record } = await deps.tokens.issue({
    type: 'access', issuer: ID, subject: user.id, kind: user.anonymous ? 'anonymous' : 'user',
    ttlSeconds: options.userTokenTtlSeconds, data: { client_id: clientId },
  });
  await ensureNotDeleted(ctx, user.id, record.digest);
  return value;
}

/**
 * Called after a token of stored user `userId` is written: if a `user/delete` ran since the user was read, its
 * revocation may have missed this token, so it is revoked here. Store operations are linearisable, so one of the
 * two always sees the other: the delete finds the token, or this read finds the user gone.
 */
export async function ensureNotDeleted({ deps }: GeoloqiContext, userId: string, digest: string): Promise<void> {
  if (await deps.store.getUser(userId) !== undefined) return;
  await deps.store.revokeTokens([digest], deps.now());
  throw notFound('user deleted while its token was issued');
}

export function userReply(user: StoredUser, accessToken: string): IssueReply {
  return {
    status: 200,
    body: {
      display_name: user.displayName,
      username: user.username,
      user_id: user.id,
      is_anonymous: user.anonymous ? 1 : 0,
      key: user.key ?? null,
      ...(user.email !== undefined ? { email: user.email } : {}),
      access_token: accessToken,
      extra: user.extra ?? {},
    },
  };
}

/** A user that already has this application's `key`: its token for a confidential request, else 409. */
export async function existingKey(ctx: GeoloqiContext, user: StoredUser, client: Client): Promise<IssueReply> {
  if (!client.secretVerified) {
    throw geoError(409, 'duplicate_key', 'A user already exists with this key.', 'TG_ERR_BAD_REQUEST', 'invalid', 'key taken; no client secret given');
  }
  return userReply(user, await issueUserToken(ctx, user, client.app.clientId));
}

/** Creates a user with a fresh random id (again on the negligible chance of an id clash). */
export async function storeUser(
  { deps }: GeoloqiContext, make: (id: string) => StoredUser,
): Promise<{ user: StoredUser; result: 'created' | 'duplicate_username' | 'duplicate_key' }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const user = make(randomString(10));
    const result = await deps.store.createUser(user);
    if (result !== 'duplicate_id') return { user, result };
  }
  throw new TrackgateError('TG_ERR_INTERNAL', 'internal error', { detail: 'could not draw a free user id' });
}

export function randomString(n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += ALNUM[randomInt(ALNUM.length)];
  return out;
}
