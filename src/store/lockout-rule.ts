/**
 * Who may still try a password once a user name has too many failures: the decision every throttle
 * implementation (memory, Redis, the cluster primary's) makes from its counts, so they cannot drift apart.
 *
 * Counted per window: failures per client address (`ip`), per user name from anywhere (`user`), and per user
 * name from this address (`pair`); and, per user name and address, whether that address passed a check for
 * the user within `lockout.trustSeconds` (`trusted`). An attempt is refused (429) when
 *
 * 1. the address has `ip.limit` failures (any user), or
 * 2. the address has `user.limit` failures for this user (trusted or not), or
 * 3. the user has `user.limit` failures, the address is not trusted for the user and has failed for it, or
 * 4. the user has `lockout.hardLimit` failures and the address is not trusted for the user.
 *
 * So ten wrong passwords from one address lock that address out of the account, not the account's owner:
 * from an address with no failures for the user (or one it logged in from before) the right password passes.
 * A guesser spread over many addresses gets one try per address and user while the user is over its limit,
 * and no more than `lockout.hardLimit` tries in all per window; then only trusted addresses may try.
 */
import { TrackgateError } from '../errors.js';

export interface ThrottleRule {
  /** Failed attempts allowed per window. */
  limit: number;
  windowSeconds: number;
}

export interface LockoutRule {
  hardLimit: number;
  trustSeconds: number;
}

/** Absent `lockout`: no clean-address exemption and no trusted addresses (the user limit locks everyone out). */
export interface ThrottleRules {
  user: ThrottleRule;
  ip: ThrottleRule;
  lockout?: LockoutRule;
}

/** A sliding-window estimate of failures and how far the current fixed window has run. */
export interface WindowCount {
  estimate: number;
  elapsedMs: number;
}

export interface AttemptCounts {
  user?: WindowCount;
  ip?: WindowCount;
  pair?: WindowCount;
  trusted: boolean;
}

export interface ThrottleKeyLike {
  scope: 'user' | 'ip';
  value: string;
}

/** The user name and address of an attempt's keys, and the key of the pair (both present) for per-pair counts. */
export function attemptOf(keys: readonly ThrottleKeyLike[]): { user?: string; ip?: string; pair?: string } {
  const user = keys.find((k) => k.scope === 'user')?.value;
  const ip = keys.find((k) => k.scope === 'ip')?.value;
  return {
    ...(user !== undefined ? { user } : {}),
    ...(ip !== undefined ? { ip } : {}),
    ...(user !== undefined && ip !== undefined ? { pair: `${user}\0${ip}` } : {}),
  };
}

/**
 * Whether trust granted at `grantedAt` (epoch ms; undefined: never) still holds under the current rules: judged
 * against today's `lockout.trustSeconds`, not the one in force at the grant, so lowering it on reload takes
 * back trust already given.
 */
export function trustedSince(grantedAt: number | undefined, rules: ThrottleRules, now: number): boolean {
  const trustSeconds = rules.lockout?.trustSeconds ?? 0;
  return grantedAt !== undefined && trustSeconds > 0 && grantedAt + trustSeconds * 1000 > now;
}

/** Seconds to wait before trying again (0: the attempt may go ahead). */
export function refusalSeconds(c: AttemptCounts, rules: ThrottleRules): number {
  const wait = (w: WindowCount, rule: ThrottleRule): number => Math.max(1, Math.ceil(rule.windowSeconds - w.elapsedMs / 1000));
  let retry = 0;
  if (c.ip !== undefined && rules.ip.limit > 0 && c.ip.estimate >= rules.ip.limit) retry = wait(c.ip, rules.ip);
  const limit = rules.user.limit;
  if (c.user !== undefined && limit > 0) {
    // Without an address, the user's own count is all there is to go by.
    const own = c.pair ?? c.user;
    const locked = own.estimate >= limit
      || (c.user.estimate >= limit && !c.trusted && (own.estimate > 0 || c.user.estimate >= (rules.lockout?.hardLimit ?? 0)));
    if (locked) retry = Math.max(retry, wait(c.user, rules.user));
  }
  return retry;
}

export function throttledError(retryAfterSeconds: number): TrackgateError {
  return new TrackgateError('TG_ERR_THROTTLED', 'too many failed attempts', {
    reason: 'throttled', headers: { 'retry-after': String(Math.max(1, retryAfterSeconds)) },
  });
}
