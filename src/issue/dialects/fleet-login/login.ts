/**
 * `POST <prefix>/login` (JSON or form) `username`, `password` [, `account_id`]: a session bound to `account_id`
 * when the user has that account (else 403), to the user's first account when absent.
 */
import { TrackgateError } from '../../../errors.js';
import { stringField } from '../../body.js';
import { checkUserPassword } from '../../password-login.js';
import type { Subject } from '../../tokens.js';
import type { IssueReply, IssueRequest } from '../../types.js';
import { accountIdField, accountOf } from './accounts.js';
import type { FleetLoginContext } from './options.js';
import { openSession, renderPair } from './pair.js';

export async function login(ctx: FleetLoginContext, req: IssueRequest): Promise<IssueReply> {
  const { deps } = ctx;
  const body = await req.body();
  const username = stringField(body, 'username');
  const password = stringField(body, 'password');
  const accountId = accountIdField(body);
  if (username === undefined || username === '' || password === undefined) {
    throw new TrackgateError('TG_ERR_BAD_REQUEST', 'username and password required', { reason: 'malformed' });
  }
  const user = await checkUserPassword(deps, req, username, password);
  const account = accountId !== undefined && accountId !== '' ? accountOf(user, accountId) : user.accounts[0];
  const subject: Subject = { subject: user.id ?? user.username, kind: 'user', ...(account !== undefined ? { account } : {}) };
  return renderPair(deps, await openSession(ctx, subject));
}
