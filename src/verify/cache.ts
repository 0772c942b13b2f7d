/**
 * The validation cache: one bounded LRU between finding a credential and verifying it.
 *
 * Semantics:
 * - keys are keyed digests of the credential (see cache-key.ts), never the secret;
 * - a positive entry lives `min(ttlSeconds, credential expiry - now)`; an identity already past its expiry
 *   is not cached at all;
 * - a negative entry (the credential was rejected as invalid/expired) lives `negativeTtlSeconds`, so a
 *   flood of one wrong password costs one hash per window; errors that are not verdicts (source down,
 *   throttled, malformed) are never cached;
 * - bounded by entry count and by approximate bytes, least recently used first, in an {@link IdentityTable}
 *   (which also keeps rejections from evicting identities, and decides by `admission` whether a new identity
 *   gets into a full cache);
 * - concurrent misses on one key share a single verification (single-flight);
 * - `delete`/`deleteTokenDigests`/`clear` evict at once (revocation, account removal, reload); a verification that
 *   was already running when `clear` was called does not store its (possibly stale) verdict;
 * - lookups, evictions and refused admissions are reported to `onEvent`
 *   (`trackgate_validation_cache_events_total`).
 */
import { TrackgateError } from '../errors.js';
import type { Identity } from '../identity/identity.js';
import { IdentityTable, type Admission, type Verdict } from './identity-table.js';

/** How a request's credential was answered: from the cache, verified on a miss, or (single-use) not cached. */
export type CacheOutcome = 'hit' | 'miss' | 'negative_hit' | 'bypass';

export interface ValidationCacheOptions {
  maxEntries: number;
  maxNegativeEntries: number;
  maxBytes: number;
  /** How a new identity gets into a full cache (see identity-table.ts); default `frequency`. */
  admission?: Admission;
  ttlSeconds: number;
  negativeTtlSeconds: number;
  now?: () => number;
  /** Called once per lookup with its outcome, and once per entry evicted to stay within bounds. */
  onEvent?: (event: CacheEvent) => void;
}

export type CacheEvent = Exclude<CacheOutcome, 'bypass'> | 'evict' | 'negative_evict' | 'not_admitted';

export interface CacheResult {
  identity: Identity;
  outcome: CacheOutcome;
}

/** Reasons that are verdicts about the credential itself (cacheable as negatives). */
const NEGATIVE_REASONS = new Set(['invalid', 'expired']);

export class ValidationCache {
  readonly #table: IdentityTable;
  readonly #inflight = new Map<string, Promise<Verdict>>();
  readonly #opts: ValidationCacheOptions;
  readonly #now: () => number;
  readonly #onEvent: (event: CacheEvent) => void;
  /** Bumped by `clear`: a verification started under an older generation does not store its verdict. */
  #generation = 0;
  evictions = 0;

  constructor(opts: ValidationCacheOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#onEvent = opts.onEvent ?? (() => undefined);
    this.#table = new IdentityTable({
      maxEntries: opts.maxEntries,
      maxNegativeEntries: opts.maxNegativeEntries,
      maxBytes: opts.maxBytes,
      ...(opts.admission !== undefined ? { admission: opts.admission } : {}),
      onEvict: (segment) => { this.evictions++; this.#onEvent(segment === 'negative' ? 'negative_evict' : 'evict'); },
      onRefuse: () => this.#onEvent('not_admitted'),
    });
  }

  /** Entries held, identities and rejections. */
  get size(): number { return this.#table.size; }
  /** Rejections held (at most `maxNegativeEntries`). */
  get negativeSize(): number { return this.#table.negativeSize; }
  get bytes(): number { return this.#table.bytes; }

  /**
   * The cached verdict for `key` without waiting: the identity on a hit, undefined when nothing is cached,
   * and the cached TrackgateError thrown on a negative hit. Synchronous, so a cache hit costs the request
   * path no promise or microtask.
   */
  lookup(key: string): CacheResult | undefined {
    // An entry's deadline already includes the credential's own expiry (see #store), on the app's clock.
    const hit = this.#table.get(key, this.#now());
    if (hit === undefined) return undefined;
    if (hit instanceof TrackgateError) {
      this.#onEvent('negative_hit');
      throw hit;
    }
    this.#onEvent('hit');
    return { identity: hit, outcome: 'hit' };
  }

  /**
   * Returns the cached verdict for `key`, or runs `verify` once (concurrent callers share it), caches
   * the verdict and returns it. Throws the (cached or fresh) TrackgateError for rejected credentials.
   */
  async getOrVerify(key: string, verify: () => Promise<Identity>): Promise<CacheResult> {
    return this.lookup(key) ?? this.verifyMiss(key, verify);
  }

  /**
   * The miss half of {@link getOrVerify}, for a caller that has just had `lookup(key)` return undefined:
   * joins or starts the single-flight verification without looking the key up again.
   */
  async verifyMiss(key: string, verify: () => Promise<Identity>): Promise<CacheResult> {
    let pending = this.#inflight.get(key);
    const leader = pending === undefined;
    if (pending === undefined) {
      const p = this.#run(key, verify, this.#generation);
      pending = p;
      this.#inflight.set(key, p);
      p.finally(() => { if (this.#inflight.get(key) === p) this.#inflight.delete(key); }).catch(() => undefined);
    }
    let entry: Verdict;
    try {
      entry = await pending;
    } catch (err) {
      if (leader) this.#onEvent('miss');
      throw err;
    }
    // A follower shared the leader's verification: for it, the verdict was already known.
    if (entry instanceof TrackgateError) {
      this.#onEvent(leader ? 'miss' : 'negative_hit');
      throw entry;
    }
    this.#onEvent(leader ? 'miss' : 'hit');
    return { identity: entry, outcome: leader ? 'miss' : 'hit' };
  }

  async #run(key: string, verify: () => Promise<Identity>, generation: number): Promise<Verdict> {
    let entry: Verdict;
    try {
      entry = await verify();
    } catch (err) {
      if (!(err instanceof TrackgateError)) throw err;
      entry = err;
    }
    // Cleared meanwhile (reload, account removed): the verdict may rest on the old accounts; do not keep it.
    if (generation === this.#generation) this.#store(key, entry);
    return entry;
  }

  #store(key: string, entry: Verdict): void {
    const now = this.#now();
    let ttlMs: number;
    if (entry instanceof TrackgateError) {
      if (!NEGATIVE_REASONS.has(entry.reason ?? '')) return;
      ttlMs = this.#opts.negativeTtlSeconds * 1000;
    } else {
      ttlMs = this.#opts.ttlSeconds * 1000;
      if (entry.expiresAt !== undefined) ttlMs = Math.min(ttlMs, entry.expiresAt - now);
    }
    if (ttlMs < 1) return;
    this.#table.set(key, entry, now + Math.floor(ttlMs));
  }

  delete(key: string): boolean {
    return this.#table.delete(key);
  }

  /** Evicts every entry of an identity that came from one of these issued tokens (`Identity.tokenDigest`): revocation. */
  deleteTokenDigests(digests: ReadonlySet<string>): number {
    return this.#table.deleteTokenDigests(digests);
  }

  clear(): void {
    this.#generation++;
    // Requests after the clear must not join a verification that started before it.
    this.#inflight.clear();
    this.#table.clear();
  }
}
