/**
 * Brute-force throttling of password checks, per user and per client address: a sliding-window counter of
 * failed attempts (the previous fixed window weighted by how much of it still overlaps, plus the current
 * one: O(1) memory per key, no timestamp lists). Over the limit → 429 with Retry-After until the window
 * slides enough. Keys live in a bounded LRU so a flood of distinct users cannot grow memory.
 *
 * `Throttle` is async so a store-backed implementation (Redis, shared by replicas) can drop in.
 */
import { LRUCache } from 'lru-cache';
import { TrackgateError } from '../errors.js';

export interface ThrottleRule {
  /** Failed attempts allowed per window. */
  limit: number;
  windowSeconds: number;
}

/** The rules per scope, as `throttle.*` in the config. */
export interface ThrottleRules { user: ThrottleRule; ip: ThrottleRule }

/** Rules as given: a getter (the live config) or fixed values. */
export function rulesGetter(rules: ThrottleRules | (() => ThrottleRules)): () => ThrottleRules {
  return typeof rules === 'function' ? rules : () => rules;
}

export interface Throttle {
  /** Throws a 429 TrackgateError (with Retry-After) when any key is over its limit. */
  check(keys: readonly ThrottleKey[]): Promise<void>;
  /** Counts a failed password check against every key. */
  fail(keys: readonly ThrottleKey[]): Promise<void>;
}

export interface ThrottleKey {
  /** `user` or `ip`: selects the rule. */
  scope: 'user' | 'ip';
  value: string;
}

interface Counter { window: number; current: number; previous: number }

export class MemoryThrottle implements Throttle {
  // Bounded by count through maxSize (each entry sized 1), not `max`: with `max`, lru-cache allocates its arrays
  // for every entry at construction (~1.6 MiB of heap for 100,000), paid by every process that never sees a flood.
  readonly #counters = new LRUCache<string, Counter>({ maxSize: 100_000, sizeCalculation: () => 1 });

  readonly #rules: () => ThrottleRules;

  /** A getter is read on every check, so a hot reload's new limits apply at once (fixed rules: tests). */
  constructor(rules: ThrottleRules | (() => ThrottleRules), private readonly now: () => number = Date.now) {
    this.#rules = rulesGetter(rules);
  }

  async check(keys: readonly ThrottleKey[]): Promise<void> {
    let retryAfter = 0;
    for (const k of keys) {
      const rule = this.#rules()[k.scope];
      if (rule.limit <= 0) continue;
      const { estimate, elapsed } = this.#estimate(k, rule);
      if (estimate >= rule.limit) retryAfter = Math.max(retryAfter, Math.ceil(rule.windowSeconds - elapsed / 1000));
    }
    if (retryAfter > 0) {
      throw new TrackgateError('TG_ERR_THROTTLED', 'too many failed attempts', {
        reason: 'throttled', headers: { 'retry-after': String(Math.max(1, retryAfter)) },
      });
    }
  }

  async fail(keys: readonly ThrottleKey[]): Promise<void> {
    for (const k of keys) {
      const rule = this.#rules()[k.scope];
      const c = this.#roll(`${k.scope}\0${k.value}`, rule);
      c.current++;
    }
  }

  #estimate(k: ThrottleKey, rule: ThrottleRule): { estimate: number; elapsed: number } {
    const windowMs = rule.windowSeconds * 1000;
    const c = this.#roll(`${k.scope}\0${k.value}`, rule);
    const elapsed = this.now() - c.window * windowMs;
    const overlap = 1 - elapsed / windowMs;
    return { estimate: c.previous * overlap + c.current, elapsed };
  }

  #roll(key: string, rule: ThrottleRule): Counter {
    const windowMs = rule.windowSeconds * 1000;
    const w = Math.floor(this.now() / windowMs);
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
