/**
 * Brute-force throttling of password checks, per user and per client address: a sliding-window counter of
 * failed attempts (the previous fixed window weighted by its overlap, plus the current one: O(1) memory per key)
 * in a bounded LRU, so a flood of distinct users cannot grow memory. Over the limit → 429 with Retry-After.
 * Who is refused is decided in `lockout-rule.ts`, shared with the Redis and cluster throttles; `Throttle` is
 * async so those can drop in.
 */
import { LRUCache } from 'lru-cache';
import {
  attemptOf, refusalSeconds, throttledError, trustedSince, type ThrottleRule, type ThrottleRules, type WindowCount,
} from './lockout-rule.js';

export type { ThrottleRule, ThrottleRules } from './lockout-rule.js';

/** Rules as given: a getter (the live config) or fixed values. */
export function rulesGetter(rules: ThrottleRules | (() => ThrottleRules)): () => ThrottleRules {
  return typeof rules === 'function' ? rules : () => rules;
}

export interface Throttle {
  /** Throws a 429 TrackgateError (with Retry-After) when the attempt is refused (lockout-rule.ts). */
  check(keys: readonly ThrottleKey[]): Promise<void>;
  /** Counts a failed password check against every key (and the user from that address). */
  fail(keys: readonly ThrottleKey[]): Promise<void>;
  /** Records a passed check: the address becomes trusted for the user for `lockout.trustSeconds`. */
  succeed(keys: readonly ThrottleKey[]): Promise<void>;
}

export interface ThrottleKey {
  /** `user` or `ip`: selects the rule. */
  scope: 'user' | 'ip';
  value: string;
}

interface Counter { window: number; current: number; previous: number }
type CounterScope = 'user' | 'ip' | 'pair';

export class MemoryThrottle implements Throttle {
  // A count bound through maxSize (each entry sized 1), not `max`: docs/performance-notes.md#lru-cache-bounded-by-size-not-max
  readonly #counters = new LRUCache<string, Counter>({ maxSize: 100_000, sizeCalculation: () => 1 });
  /**
   * User + address pairs that passed a check, with the time they passed: compared with the current
   * `lockout.trustSeconds` on every check, so a reload that shortens (or zeroes) it shortens trust already given.
   */
  readonly #trusted = new LRUCache<string, number>({ maxSize: 100_000, sizeCalculation: () => 1 });

  readonly #getRules: () => ThrottleRules;

  /** A getter is read on every check, so a hot reload's new limits apply at once (fixed rules: tests). */
  constructor(rules: ThrottleRules | (() => ThrottleRules), private readonly now: () => number = Date.now) {
    this.#getRules = rulesGetter(rules);
  }

  /** The one place the rules are read. */
  #rules(): ThrottleRules {
    return this.#getRules();
  }

  async check(keys: readonly ThrottleKey[]): Promise<void> {
    const rules = this.#rules();
    const a = attemptOf(keys);
    const granted = a.pair === undefined ? undefined : this.#trusted.get(a.pair);
    const retry = refusalSeconds({
      ...(a.user !== undefined ? { user: this.#estimate('user', a.user, rules.user) } : {}),
      ...(a.ip !== undefined ? { ip: this.#estimate('ip', a.ip, rules.ip) } : {}),
      ...(a.pair !== undefined ? { pair: this.#estimate('pair', a.pair, rules.user) } : {}),
      trusted: trustedSince(granted, rules, this.now()),
    }, rules);
    if (retry > 0) throw throttledError(retry);
  }

  async fail(keys: readonly ThrottleKey[]): Promise<void> {
    const rules = this.#rules();
    const a = attemptOf(keys);
    // Only limited scopes count (as in Redis): failures under a limit of 0 must not be enforced once a reload raises it.
    if (a.user !== undefined && rules.user.limit > 0) this.#roll('user', a.user, rules.user).current++;
    if (a.ip !== undefined && rules.ip.limit > 0) this.#roll('ip', a.ip, rules.ip).current++;
    if (a.pair !== undefined && rules.user.limit > 0) this.#roll('pair', a.pair, rules.user).current++;
  }

  async succeed(keys: readonly ThrottleKey[]): Promise<void> {
    const trustSeconds = this.#rules().lockout?.trustSeconds ?? 0;
    const { pair } = attemptOf(keys);
    if (pair !== undefined && trustSeconds > 0) this.#trusted.set(pair, this.now());
  }

  #estimate(scope: CounterScope, value: string, rule: ThrottleRule): WindowCount {
    const windowMs = rule.windowSeconds * 1000;
    // A check adds no entry: only failures take room in the LRU (a flood of names that never fail evicts nothing).
    const c = this.#counters.has(`${scope}\0${value}`) ? this.#roll(scope, value, rule) : { window: Math.floor(this.now() / windowMs), current: 0, previous: 0 };
    const elapsedMs = this.now() - c.window * windowMs;
    return { estimate: c.previous * (1 - elapsedMs / windowMs) + c.current, elapsedMs };
  }

  #roll(scope: CounterScope, value: string, rule: ThrottleRule): Counter {
    const key = `${scope}\0${value}`;
    const w = Math.floor(this.now() / (rule.windowSeconds * 1000));
    let c = this.#counters.get(key);
    if (c === undefined) {
      c = { window: w, current: 0, previous: 0 };
      this.#counters.set(key, c);
    } else if (c.window !== w) {
      c.previous = c.window === w - 1 ? c.current : 0;
      c.current = 0;
      c.window = w;
    }
    return c;
  }
}
