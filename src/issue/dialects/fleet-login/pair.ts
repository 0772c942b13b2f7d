/** A fleet login session as the seed shows it, and how one is opened: the same shape for login, masquerade and refresh. */
import { randomUUID } from 'node:crypto';
import { secondsLeft } from '../../access-jwt.js';
import type { TokenPair } from '../../refresh.js';
import type { Subject } from '../../tokens.js';
import type { IssueDeps, IssueReply } from '../../types.js';
import { ID, type FleetLoginContext } from './options.js';

/**
 * A new session (refresh family) for `subject`; `guid` is the family id. `actor`: the user who bound it to its
 * account by a masquerade, kept with the pair (and so through every refresh) as the identity's `act`.
 */
export async function openSession({ options, deps }: FleetLoginContext, subject: Subject, actor?: string): Promise<TokenPair> {
  const family = randomUUID();
  return deps.refresh.issuePair(subject, {
    issuer: ID, accessTtlSeconds: options.accessTtlSeconds, refreshTtlSeconds: options.refreshTtlSeconds,
    data: { guid: family, ...(actor !== undefined ? { act: actor } : {}) },
  }, family);
}

/** `200 {success: true, guid, token, tokenExpiration, tokenLifetime, refreshToken, refreshTokenExpiration}`. */
export function renderPair(deps: IssueDeps, pair: TokenPair): IssueReply {
  return {
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
  };
}

/** `2018-04-01T21:39:12+00:00`: the seed's format (UTC, whole seconds, numeric offset). */
export function isoSeconds(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}+00:00`;
}
