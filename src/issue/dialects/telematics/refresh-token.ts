/**
 * `POST <prefix>/RefreshToken` `{"RefreshToken": …}` (optionally with `"AccessToken"`) rotates both. The refresh
 * token alone is enough (it is the credential; the seed says "update it … using refresh token"); an access token
 * sent along may have expired but must be one of the refresh token's family (else 401, and the refresh token is
 * not spent), since a mismatched pair means the client mixed up its stored tokens.
 */
import { MAX_TOKEN_LENGTH } from '../../../authn/stored-token.js';
import { subjectOf } from '../../tokens.js';
import type { IssueReply, IssueRequest } from '../../types.js';
import { invalid, malformed, str } from './fields.js';
import { accessValueFor, ID, type TelematicsContext } from './options.js';
import { renderPair } from './pairs.js';

export async function refreshToken(ctx: TelematicsContext, req: IssueRequest): Promise<IssueReply> {
  const { deps } = ctx;
  const body = await req.body();
  const access = str(body, 'AccessToken');
  const refresh = str(body, 'RefreshToken');
  if (refresh === undefined || refresh === '') throw malformed('RefreshToken required');
  if (access === '') throw malformed('AccessToken, when sent, must not be empty');
  if (refresh.length > MAX_TOKEN_LENGTH) throw invalid('invalid refresh token', 'refresh token longer than any issued one');
  const [accessRec, presented] = await Promise.all([access === undefined ? undefined : deps.tokens.lookup(access), deps.refresh.present(refresh)]);
  const refreshRec = presented.record;
  if (refreshRec === undefined || refreshRec.type !== 'refresh' || refreshRec.issuer !== ID) throw invalid('invalid refresh token', 'unknown refresh token');
  // An expired access token is fine (that is why one refreshes); it must be of the same family.
  if (access !== undefined && (accessRec === undefined || accessRec.type !== 'access' || accessRec.family === undefined || accessRec.family !== refreshRec.family)) {
    throw invalid('invalid access token', 'access token not of the refresh token\'s family');
  }
  const pair = await deps.refresh.rotate(presented, accessValueFor(ctx, subjectOf(refreshRec)));
  return renderPair(ctx, pair, req);
}
