/**
 * The brute-force throttle shared by every replica: the same sliding-window estimate as {@link MemoryThrottle}
 * (previous fixed window weighted by its remaining overlap, plus the current one), with the per-window
 * counters in Redis: `tg:thr:<scope>:<hash of the value>:<window number>`, INCR'ed and PEXPIREAT'ed in one
 * MULTI, kept until the end of the next window (when they stop counting as "previous").
 *
 * Values are hashed: user names and addresses never appear in Redis keys, and a long name cannot make a long key.
 *
 * Redis unreachable: every failure is also counted in a local MemoryThrottle, which decides while Redis does
 * not answer (per-replica limits instead of none, and password checks keep working).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { TrackgateError } from '../errors.js';
import { MemoryThrottle, rulesGetter, type Throttle, type ThrottleKey, type ThrottleRules } from './throttle.js';

const PREFIX = 'tg:thr:';

export class RedisThrottle implements Throttle {
  readonly #local: MemoryThrottle;
  private readonly rules: () => ThrottleRules;

  constructor(
    private readonly redis: Redis,
    rules: ThrottleRules | (() => ThrottleRules),
    private readonly now: () => number = Date.now,
  ) {
    // A getter is read on every check (a hot reload's new limits apply at once).
    this.rules = rulesGetter(rules);
    this.#local = new MemoryThrottle(this.rules, now);
  }

  async check(keys: readonly ThrottleKey[]): Promise<void> {
    const limited = keys.filter((k) => this.rules()[k.scope].limit > 0);
    if (limited.length === 0) return;
    const now = this.now();
    const p = this.redis.pipeline();
    for (const k of limited) {
      const w = this.#window(k, now);
      p.mget(this.#key(k, w - 1), this.#key(k, w));
    }
    let replies: [Error | null, unknown][];
    try {
      replies = (await p.exec()) ?? [];
      if (replies.length !== limited.length || replies.some(([err]) => err !== null)) throw new Error('incomplete reply');
    } catch {
      return this.#local.check(keys);
    }
    let retryAfter = 0;
    limited.forEach((k, i) => {
      const rule = this.rules()[k.scope];
      const windowMs = rule.windowSeconds * 1000;
      const [previous, current] = (replies[i]![1] as (string | null)[]).map((v) => Number(v ?? 0));
      const elapsed = now - this.#window(k, now) * windowMs;
      const estimate = previous! * (1 - elapsed / windowMs) + current!;
      if (estimate >= rule.limit) retryAfter = Math.max(retryAfter, Math.ceil(rule.windowSeconds - elapsed / 1000));
    });
    if (retryAfter > 0) {
      throw new TrackgateError('TG_ERR_THROTTLED', 'too many failed attempts', {
        reason: 'throttled', headers: { 'retry-after': String(Math.max(1, retryAfter)) },
      });
    }
  }

  async fail(keys: readonly ThrottleKey[]): Promise<void> {
    await this.#local.fail(keys);
    const limited = keys.filter((k) => this.rules()[k.scope].limit > 0);
    if (limited.length === 0) return;
    const now = this.now();
    const m = this.redis.multi();
    for (const k of limited) {
      const w = this.#window(k, now);
      const key = this.#key(k, w);
      m.incr(key);
      m.pexpireat(key, (w + 2) * this.rules()[k.scope].windowSeconds * 1000);
    }
    // Unreachable: the local count above stands in.
    await m.exec().catch(() => undefined);
  }

  #window(k: ThrottleKey, now: number): number {
    return Math.floor(now / (this.rules()[k.scope].windowSeconds * 1000));
  }

  #key(k: ThrottleKey, window: number): string {
    return `${PREFIX}${k.scope}:${createHash('sha256').update(k.value).digest('base64url').slice(0, 22)}:${window}`;
  }
}
