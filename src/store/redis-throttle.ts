/**
 * The brute-force throttle shared by every replica: the same sliding-window estimate as {@link MemoryThrottle}
 * (previous fixed window weighted by its remaining overlap, plus the current one), with the per-window
 * counters in Redis: `tg:thr:<scope>:<hash of the value>:<window number>` (redis-keys.ts; tagged per value on a
 * cluster), INCR'ed and PEXPIREAT'ed in one MULTI per counter, kept until the end of the next window (when they
 * stop counting as "previous"). Scopes are `user`, `ip` and `pair` (a user from one address); a passed check sets
 * `tg:thr:trust:<hash of user and address>`
 * to the time it passed, expiring after `lockout.trustSeconds` (and judged against the current value on check). The decision is lockout-rule.ts's, as in memory.
 *
 * Values are hashed: user names and addresses never appear in Redis keys, and a long name cannot make a long key.
 *
 * Redis unreachable: every failure and success is also recorded in a local MemoryThrottle, which decides while
 * Redis does not answer (per-replica limits instead of none, and password checks keep working).
 */
import { createHash } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { RedisClient } from './redis-client.js';
import { RedisKeys } from './redis-keys.js';
import { attemptOf, refusalSeconds, throttledError, trustedSince, type AttemptCounts, type ThrottleRule, type ThrottleRules } from './lockout-rule.js';
import { MemoryThrottle, rulesGetter, type Throttle, type ThrottleKey } from './throttle.js';

type Scope = 'user' | 'ip' | 'pair';

export class RedisThrottle implements Throttle {
  readonly #local: MemoryThrottle;
  readonly #getRules: () => ThrottleRules;
  readonly #keys: RedisKeys;

  /** `keys`: the store's layout (default: the `tg:` prefix, in the layout of `redis`'s kind). */
  constructor(
    private readonly redis: RedisClient,
    rules: ThrottleRules | (() => ThrottleRules),
    private readonly now: () => number = Date.now,
    keys?: RedisKeys,
  ) {
    this.#keys = keys ?? new RedisKeys('tg:', redis instanceof Cluster);
    // A getter is read on every check (a hot reload's new limits apply at once).
    this.#getRules = rulesGetter(rules);
    this.#local = new MemoryThrottle(this.#getRules, now);
  }

  /** The one place the rules are read. */
  #rules(): ThrottleRules {
    return this.#getRules();
  }

  async check(keys: readonly ThrottleKey[]): Promise<void> {
    const rules = this.#rules();
    const counted = this.#counted(keys, rules);
    if (counted.length === 0) return;
    const { pair } = attemptOf(keys);
    const now = this.now();
    // One command per counted value (no pipeline: on a cluster each value's counters are in a slot of their own).
    const reads: Promise<unknown>[] = counted.map(([scope, value, rule]) => {
      const w = window(rule, now);
      return this.redis.mget(this.#key(scope, value, w - 1), this.#key(scope, value, w));
    });
    if (pair !== undefined) reads.push(this.redis.get(this.#trustKey(pair)));
    let replies: unknown[];
    try {
      replies = await Promise.all(reads);
    } catch {
      return this.#local.check(keys);
    }
    // The mark's value is when trust was granted, judged against the current trustSeconds (a reload may lower it).
    const granted = pair === undefined ? null : replies[counted.length] as string | null;
    const counts: AttemptCounts = { trusted: trustedSince(granted === null ? undefined : Number(granted), rules, now) };
    counted.forEach(([scope, , rule], i) => {
      const windowMs = rule.windowSeconds * 1000;
      const [previous, current] = (replies[i] as (string | null)[]).map((v) => Number(v ?? 0));
      const elapsedMs = now - window(rule, now) * windowMs;
      counts[scope] = { estimate: previous! * (1 - elapsedMs / windowMs) + current!, elapsedMs };
    });
    const retry = refusalSeconds(counts, rules);
    if (retry > 0) throw throttledError(retry);
  }

  async fail(keys: readonly ThrottleKey[]): Promise<void> {
    await this.#local.fail(keys);
    const counted = this.#counted(keys, this.#rules());
    if (counted.length === 0) return;
    const now = this.now();
    const writes = counted.map(([scope, value, rule]) => {
      const w = window(rule, now);
      const key = this.#key(scope, value, w);
      return this.redis.multi().incr(key).pexpireat(key, (w + 2) * rule.windowSeconds * 1000).exec();
    });
    // Unreachable: the local count above stands in.
    await Promise.all(writes).catch(() => undefined);
  }

  async succeed(keys: readonly ThrottleKey[]): Promise<void> {
    await this.#local.succeed(keys);
    const trustSeconds = this.#rules().lockout?.trustSeconds ?? 0;
    const { pair } = attemptOf(keys);
    if (pair === undefined || trustSeconds <= 0) return;
    await this.redis.set(this.#trustKey(pair), String(this.now()), 'PX', trustSeconds * 1000).catch(() => undefined);
  }

  /** The counters an attempt's keys touch: its user, its address, and the user from that address (limited rules only). */
  #counted(keys: readonly ThrottleKey[], rules: ThrottleRules): [Scope, string, ThrottleRule][] {
    const a = attemptOf(keys);
    const out: [Scope, string, ThrottleRule][] = [];
    if (a.user !== undefined && rules.user.limit > 0) out.push(['user', a.user, rules.user]);
    if (a.ip !== undefined && rules.ip.limit > 0) out.push(['ip', a.ip, rules.ip]);
    if (a.pair !== undefined && rules.user.limit > 0) out.push(['pair', a.pair, rules.user]);
    return out;
  }

  #key(scope: Scope, value: string, window: number): string {
    return this.#keys.throttle(scope, digest(value), window);
  }

  #trustKey(pair: string): string {
    return this.#keys.trust(digest(pair));
  }
}

function window(rule: ThrottleRule, now: number): number {
  return Math.floor(now / (rule.windowSeconds * 1000));
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 22);
}
