/** Which accounts a fleet user may act for: those the accounts file lists for them. */
import type { UserRecord } from '../../../accounts/schema.js';
import { TrackgateError } from '../../../errors.js';

/** `accountId` when `user` may act for it; 403 otherwise. */
export function accountOf(user: UserRecord, accountId: string): string {
  if (user.accounts.includes(accountId)) return accountId;
  throw new TrackgateError('TG_ERR_FORBIDDEN', 'this user has no access to that account', {
    reason: 'forbidden', detail: `account_id not among the user's ${user.accounts.length} accounts`,
  });
}
