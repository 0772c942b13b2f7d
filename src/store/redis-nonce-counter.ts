/**
 * The Digest `nc` replay store shared by every replica (and every worker) through Redis: a (nonce, nc) pair
 * accepted by one pod is refused by all the others. Same verdicts as {@link MemoryNonceCounterStore}:
 *
 * - `tg:dnc:n:<nonce>` string, one per nonce: bits [0, window) are the bitmap of the counts seen in
 *   (top - window, top] (bit `nc mod window`), then `top`, the highest count seen, as a BITFIELD i64 at bit
 *   offset `window`: window / 8 + 8 bytes (40 for the default 256), however many requests use the nonce.
 *   It expires (PEXPIREAT) at the nonce's `expiresAt` plus {@link EXPIRY_GRACE_MS}: a replica only asks while
 *   the nonce is valid by its own clock, and Redis's clock may run ahead of it.
 * - `tg:dnc:since` the mark: nonces issued at or before it that have no record are answered `unknown`. It is set
 *   (if absent) when an app starts and again by the script, so an empty Redis (first start, or restarted without
 *   persistence: every record lost) can never re-open a replay; it costs a nonce issued just before one
 *   `stale=true` round trip. Records are never evicted by count here (Redis memory is the bound; like the token
 *   records, these keys must not be evicted by a `maxmemory-policy`), so `authn.digest.maxTrackedNonces` does not apply.
 *
 * On a cluster the records and marks are in {@link NONCE_BUCKETS} slots, each record with its bucket's mark
 * (redis-keys.ts). Check and record are one Lua script (atomic across replicas). Redis unreachable or slow: the request fails
 * closed with 503 `TG_ERR_STORE_UNAVAILABLE`. Unlike the throttle, there is no local fallback: a local store
 * would accept a count another replica has already accepted.
 */
import { Cluster } from 'ioredis';
import { DEFAULT_NC_WINDOW, type NonceCounterStore, type NonceCountVerdict } from './digest-nonce-counter.js';
import type { RedisClient } from './redis-client.js';
import { NONCE_BUCKETS, RedisKeys } from './redis-keys.js';
import { Script, unavailable } from './redis.js';

/** How long a record outlives its nonce: clock differences between Redis and the replicas. */
export const EXPIRY_GRACE_MS = 60_000;

/**
 * KEYS[1]: the nonce's record, KEYS[2]: the mark. ARGV: nc, issuedAt, keep-until (PEXPIREAT), the mark to set
 * when there is none, window. Returns the verdict.
 */
const RECORD = new Script(`
local nc, w = tonumber(ARGV[1]), tonumber(ARGV[5])
redis.call('SET', KEYS[2], ARGV[4], 'NX')
local top = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  if tonumber(ARGV[2]) <= tonumber(redis.call('GET', KEYS[2])) then return 'unknown' end
else
  top = redis.call('BITFIELD', KEYS[1], 'GET', 'i64', w)[1]
end
if nc > top then
  if nc - top >= w then
    redis.call('SETRANGE', KEYS[1], 0, string.rep(string.char(0), w / 8))
  else
    for v = top + 1, nc do redis.call('SETBIT', KEYS[1], v % w, 0) end
  end
  redis.call('BITFIELD', KEYS[1], 'SET', 'i64', w, nc)
elseif nc <= top - w then
  return 'unknown'
end
local slot = nc % w
if redis.call('GETBIT', KEYS[1], slot) == 1 then return 'replayed' end
redis.call('SETBIT', KEYS[1], slot, 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return 'fresh'
`);

export interface RedisNonceCounterOptions {
  /** Epoch ms, the clock nonces are stamped with. */
  now: () => number;
  /** Counts tracked per nonce below the highest one seen (a multiple of 32); every replica must use the same. */
  window?: number;
  /** Default {@link EXPIRY_GRACE_MS}. */
  expiryGraceMs?: number;
  /** The store's key layout (default: the `tg:` prefix, in the layout of the client's kind). */
  keys?: RedisKeys;
}

export class RedisNonceCounter implements NonceCounterStore {
  readonly #window: number;
  readonly #now: () => number;
  readonly #grace: number;
  readonly #keys: RedisKeys;

  constructor(private readonly redis: RedisClient, opts: RedisNonceCounterOptions) {
    this.#keys = opts.keys ?? new RedisKeys('tg:', redis instanceof Cluster);
    const window = opts.window ?? DEFAULT_NC_WINDOW;
    if (!Number.isInteger(window) || window < 32 || window % 32 !== 0) throw new RangeError('window must be a positive multiple of 32');
    this.#window = window;
    this.#now = opts.now;
    this.#grace = opts.expiryGraceMs ?? EXPIRY_GRACE_MS;
  }

  /**
   * Sets the mark if Redis has none, so nonces issued from now on are tracked from their first use. Never
   * rejects: when Redis is down the first record sets it instead (a nonce issued before then gets one stale).
   */
  async init(): Promise<void> {
    const mark = String(this.#now() - 1);
    await Promise.all(this.#keys.nonceMarks().map((k) => this.redis.set(k, mark, 'NX'))).catch(() => undefined);
  }

  async record(nonce: string, nc: number, issuedAt: number, expiresAt: number): Promise<NonceCountVerdict> {
    if (!Number.isInteger(nc) || nc < 1) return 'unknown';
    const now = this.#now();
    // Its record may be gone already: never answer fresh for an expired nonce.
    if (expiresAt <= now) return 'unknown';
    let verdict: unknown;
    try {
      // The nonce was verified (our HMAC, 48 base64url characters) before it gets here: a bounded key.
      verdict = await RECORD.run(this.redis, [this.#keys.nonce(nonce), this.#keys.nonceMark(nonce)],
        [nc, issuedAt, Math.floor(expiresAt + this.#grace), now - 1, this.#window]);
    } catch (err) {
      throw unavailable(err);
    }
    if (verdict !== 'fresh' && verdict !== 'replayed' && verdict !== 'unknown') throw unavailable(new Error(`nc script answered ${String(verdict)}`));
    return verdict;
  }
}
