/**
 * Which accounts a fleet user may act for: those the accounts file lists for them. `account_id` is an integer
 * in the seed: it names the account with that `id` in the accounts file (`accounts: [{name, id}]`; a form
 * body's digits too), or an account by name (older clients, strings).
 */
import type { UserRecord } from '../../../accounts/schema.js';
import { TrackgateError } from '../../../errors.js';
import { stringField } from '../../body.js';

/** `account_id`: an integer (the seed's type) or a string; another number (1.5, -1) → 400. */
export function accountIdField(body: Record<string, unknown>): number | string | undefined {
  const v = body.account_id;
  if (typeof v !== 'number') return stringField(body, 'account_id');
  if (!Number.isSafeInteger(v) || v < 0) throw new TrackgateError('TG_ERR_BAD_REQUEST', 'account_id must be a non-negative integer', { reason: 'malformed' });
  return v;
}

/** The name of the account `accountId` selects when `user` may act for it (by name, else by integer id); 403 otherwise. */
export function accountOf(user: Pick<UserRecord, 'accounts' | 'accountIds'>, accountId: number | string): string {
  const name = String(accountId);
  if (user.accounts.includes(name)) return name;
  const n = typeof accountId === 'number' ? accountId : /^\d{1,15}$/.test(accountId) ? Number(accountId) : undefined;
  const byId = n === undefined ? undefined : user.accountIds?.get(n);
  if (byId !== undefined) return byId;
  throw new TrackgateError('TG_ERR_FORBIDDEN', 'this user has no access to that account', {
    reason: 'forbidden', detail: `account_id not among the user's ${user.accounts.length} accounts`,
  });
}
