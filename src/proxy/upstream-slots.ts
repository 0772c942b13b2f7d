/**
 * Fair admission to the upstream pool: as many slots as upstream connections, each held from dispatch until
 * the response is over. One client (a credential fingerprint, else its address) holds at most `share` of them,
 * so no single client can take the whole pool. When all are taken, requests wait in a bounded queue per client;
 * a freed slot goes to the waiting client holding the fewest, and a request waiting past the timeout is shed.
 * `tryAcquire` is the hot path: only a request that must wait allocates a waiter and a timer.
 */

/** The `limits.*` keys the slots read (the live config block itself: no object per request). */
export interface SlotLimits {
  /** Fraction (0-1] of the slots one client may hold at once. */
  upstreamSharePerClient: number;
  /** Requests waiting in all, and per client. */
  queueMax: number;
  queuePerClient: number;
  queueTimeoutMs: number;
}

/** Clients with no slot whose (zero) count is kept before they are swept out. */
const IDLE_CLIENTS_KEPT = 4096;

export type ShedReason = 'queue_full' | 'client_queue_full' | 'queue_timeout';

/** What `wait` calls: with no argument when a slot was granted, else why the request was shed. */
export type SlotCallback = (shed?: ShedReason) => void;

export interface Waiter { cancel(): void }

class QueuedRequest implements Waiter {
  timer: NodeJS.Timeout | undefined;
  done = false;
  constructor(readonly slots: UpstreamSlots, readonly key: string, readonly cb: SlotCallback) {}
  cancel(): void { this.slots.cancel(this); }
}

export class UpstreamSlots {
  #active = 0;
  #queued = 0;
  #sinceSweep = 0;
  readonly #held = new Map<string, number>();
  /** Per client, its waiting requests in arrival order; Map order is the round-robin order. */
  readonly #waiting = new Map<string, QueuedRequest[]>();

  constructor(readonly capacity: number, private readonly limits: () => SlotLimits) {}

  get active(): number { return this.#active; }
  get queued(): number { return this.#queued; }

  #cap(): number {
    return Math.max(1, Math.ceil(this.capacity * Math.min(1, this.limits().upstreamSharePerClient)));
  }

  /** Takes a slot for `key` now if one is free, within its share and nobody of `key` waits before it. */
  tryAcquire(key: string): boolean {
    if (this.#active >= this.capacity) return false;
    const held = this.#held.get(key) ?? 0;
    if (held >= this.#cap() || this.#waiting.has(key)) return false;
    this.#held.set(key, held + 1);
    this.#active++;
    return true;
  }

  /**
   * Queues a request that `tryAcquire` refused; `cb` is called once, with no argument when the slot is
   * granted (it is then held by `key`), or with the reason it was shed (at once when the queue is full).
   */
  wait(key: string, cb: SlotCallback): Waiter | undefined {
    const limits = this.limits();
    const list = this.#waiting.get(key);
    if (this.#queued >= limits.queueMax) { cb('queue_full'); return undefined; }
    if ((list?.length ?? 0) >= limits.queuePerClient) { cb('client_queue_full'); return undefined; }
    const q = new QueuedRequest(this, key, cb);
    if (list === undefined) this.#waiting.set(key, [q]); else list.push(q);
    this.#queued++;
    if (limits.queueTimeoutMs > 0) {
      q.timer = setTimeout(() => { if (this.#remove(q)) q.cb('queue_timeout'); }, limits.queueTimeoutMs);
      q.timer.unref();
    }
    this.#grant();
    return q;
  }

  /** Gives back the slot `key` held, and hands it on to a waiting request. */
  release(key: string): void {
    this.#active--;
    const held = (this.#held.get(key) ?? 1) - 1;
    // A client's count stays at 0 rather than being deleted: deleting and re-adding the key on every request
    // churns the Map's table (an allocation per request). Idle clients are dropped once there are many.
    this.#held.set(key, held);
    if (held === 0 && this.#held.size > IDLE_CLIENTS_KEPT && ++this.#sinceSweep >= this.#held.size) this.#dropIdle();
    if (this.#queued > 0) this.#grant();
  }

  /** Sweeps at most once per `size` releases: amortised O(1) even with many clients holding slots. */
  #dropIdle(): void {
    this.#sinceSweep = 0;
    for (const [k, n] of this.#held) if (n === 0 && !this.#waiting.has(k)) this.#held.delete(k);
  }

  cancel(q: QueuedRequest): void {
    if (this.#remove(q)) this.#grant(); // a cancelled head may have blocked its client's others
  }

  #remove(q: QueuedRequest): boolean {
    if (q.done) return false;
    q.done = true;
    if (q.timer !== undefined) clearTimeout(q.timer);
    const list = this.#waiting.get(q.key)!;
    list.splice(list.indexOf(q), 1);
    if (list.length === 0) this.#waiting.delete(q.key);
    this.#queued--;
    return true;
  }

  /** Grants free slots to waiting requests: the client holding the fewest first, ties in round-robin order. */
  #grant(): void {
    const cap = this.#cap();
    while (this.#active < this.capacity && this.#queued > 0) {
      let best: string | undefined;
      let bestHeld = cap;
      for (const key of this.#waiting.keys()) {
        const held = this.#held.get(key) ?? 0;
        if (held < bestHeld) { best = key; bestHeld = held; if (held === 0) break; }
      }
      if (best === undefined) return; // everyone waiting is at its share
      const list = this.#waiting.get(best)!;
      const q = list[0]!;
      this.#remove(q);
      // Served clients go to the back of the round-robin order.
      if (list.length > 0) { this.#waiting.delete(best); this.#waiting.set(best, list); }
      this.#held.set(best, bestHeld + 1);
      this.#active++;
      q.cb();
    }
  }
}
