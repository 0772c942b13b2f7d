/**
 * The user-name + password check of the token endpoints (oauth2_password, fleet_login): throttled per user
 * name and per client address (the same counters as every other password check), every failure takes the
 * same work and time (no user enumeration by timing: PasswordVerifier), and the error says nothing about
 * which half was wrong.
 */
import type { UserRecord } from '../accounts/schema.js';
import { TrackgateError } from '../errors.js';
import type { ThrottleKey } from '../store/throttle.js';
import type { IssueDeps, IssueRequest } from './types.js';

export async function checkUserPassword(deps: IssueDeps, req: IssueRequest, username: string, password: string): Promise<UserRecord> {
  const keys: ThrottleKey[] = [{ scope: 'user', value: username }, { scope: 'ip', value: req.view.remoteAddress }];
  await deps.throttle.check(keys);
  const user = deps.accounts().user(username);
  const ok = await deps.passwords.verifyOne(user?.password, password, undefined, async () => deps.throttle.fail(keys));
  // A failure came from verifyOne, which recorded it with the throttle before its padding.
  if (!ok || user === undefined) {
    throw new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid username or password', {
      reason: 'invalid', detail: user === undefined ? 'unknown user' : user.password === undefined ? 'user has no password' : 'wrong password',
    });
  }
  await deps.throttle.succeed(keys);
  return user;
}
