/**
 * Replay protection for Digest `nc` values: each (nonce, nc) pair is accepted once. Browsers send
 * concurrent requests on one nonce, so counts may arrive out of order; each is still accepted once.
 *
 * {@link NonceCounterStore} has three implementations: the in-memory one below (one process), the cluster
 * primary's answering its workers over IPC (src/cluster/ipc-nonce-counter.ts), and Redis
 * (src/store/redis-nonce-counter.ts), used whenever the store is Redis, so that a (nonce, nc) pair replayed
 * to a *different* replica is refused too. With the SQLite store each replica protects itself only.
 */
import { LRUCache } from 'lru-cache';

/**
 * - `fresh`: first use of this count with this nonce: accept;
 * - `replayed`: this count was accepted before: reject;
 * - `unknown`: the store cannot tell (the nonce's record was evicted or predates this store, or the count
 *   fell below the tracked window): the caller must not accept it, and answers `stale=true` so the client
 *   silently retries with a fresh nonce.
 */
export type NonceCountVerdict = 'fresh' | 'replayed' | 'unknown';

export interface NonceCounterStore {
  /**
   * Atomically checks and records the use of `nc` (≥ 1) with `nonce`. `issuedAt` and `expiresAt` (epoch
   * ms) come from the verified nonce; the record may be dropped after `expiresAt`, so from then on the
   * answer is `unknown`, never `fresh`.
   */
  record(nonce: string, nc: number, issuedAt: number, expiresAt: number): Promise<NonceCountVerdict>;
}

export interface MemoryNonceCounterOptions {
  /** Most nonces tracked at once (least recently used dropped first). */
  maxNonces: number;
  /** Counts tracked per nonce below the highest one seen (a multiple of 32). */
  window?: number;
  now: () => number;
}

interface Counts {
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Highest count seen. */
  top: number;
  /** Bit (nc mod window) set = count seen, for counts in (top - window, top]. */
  readonly bits: Uint32Array;
}

export const DEFAULT_NC_WINDOW = 256;

/**
 * Bounded in-memory store: an LRU of at most `maxNonces` nonces, each with a `window`-bit bitmap of the
 * counts seen (256 bits: 32 bytes per nonce). Fails closed: when a nonce that is still valid is evicted,
 * every untracked nonce issued at or before it is answered `unknown` from then on (a high-water mark of
 * evicted issue times), so eviction can never re-open a replay. The mark starts at the store's creation:
 * nonces issued before this process (or by another replica earlier) get one `stale` round trip.
 */
export class MemoryNonceCounterStore implements NonceCounterStore {
  readonly #lru: LRUCache<string, Counts>;
  readonly #window: number;
  readonly #now: () => number;
  #mark: number;

  constructor(opts: MemoryNonceCounterOptions) {
    const window = opts.window ?? DEFAULT_NC_WINDOW;
    if (!Number.isInteger(window) || window < 32 || window % 32 !== 0) throw new RangeError('window must be a positive multiple of 32');
    this.#window = window;
    this.#now = opts.now;
    // Nonces issued before this store existed have no record here (restart, another replica).
    this.#mark = opts.now() - 1;
    this.#lru = new LRUCache<string, Counts>({
      // A count bound through maxSize (each entry sized 1), not `max`: docs/performance-notes.md#lru-cache-bounded-by-size-not-max
      maxSize: opts.maxNonces, sizeCalculation: () => 1,
      dispose: (v, _k, reason) => {
        if (reason === 'evict' && v.expiresAt > this.#now() && v.issuedAt > this.#mark) this.#mark = v.issuedAt;
      },
    });
  }

  /** Nonces currently tracked. */
  get size(): number { return this.#lru.size; }

  async record(nonce: string, nc: number, issuedAt: number, expiresAt: number): Promise<NonceCountVerdict> {
    if (!Number.isInteger(nc) || nc < 1) return 'unknown';
    // As in every store: an expired nonce's record may be gone, so it is never fresh.
    if (expiresAt <= this.#now()) return 'unknown';
    let c = this.#lru.get(nonce);
    if (c === undefined) {
      if (issuedAt <= this.#mark) return 'unknown';
      c = { issuedAt, expiresAt, top: 0, bits: new Uint32Array(this.#window / 32) };
      this.#lru.set(nonce, c);
    }
    const w = this.#window;
    if (nc > c.top) {
      if (nc - c.top >= w) c.bits.fill(0);
      else for (let v = c.top + 1; v <= nc; v++) clearBit(c.bits, v % w);
      c.top = nc;
    } else if (nc <= c.top - w) {
      return 'unknown';
    }
    const slot = nc % w;
    if (testBit(c.bits, slot)) return 'replayed';
    setBit(c.bits, slot);
    return 'fresh';
  }
}

function testBit(bits: Uint32Array, i: number): boolean { return (bits[i >>> 5]! & (1 << (i & 31))) !== 0; }
function setBit(bits: Uint32Array, i: number): void { bits[i >>> 5]! |= 1 << (i & 31); }
function clearBit(bits: Uint32Array, i: number): void { bits[i >>> 5]! &= ~(1 << (i & 31)); }
