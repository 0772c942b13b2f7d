/**
 * Watches transfers that depend on a client's pace (a request body arriving, a response the client must
 * read) and calls `stalled` when the client is too slow: no byte for `idleMs`, or, once `idleMs` has
 * passed, fewer than `minBytesPerSecond` on average. Time during which the transfer is held up on
 * trackgate's side (`blocked()`: data waiting in our buffers, the upstream not reading) does not count.
 *
 * One timer for all watched transfers, ticking only while there is one: these deadlines need no better than a
 * quarter of `idleMs`, and a timer per request would be an allocation on every upload.
 */

export interface Watched {
  /** Bytes moved so far (monotonic, e.g. `socket.bytesRead`). */
  progress(): number;
  /** Whether a lack of progress is not the client's doing right now. */
  blocked(): boolean;
  /** The client is too slow; called once, after which the entry is dropped. */
  stalled(why: 'idle' | 'rate'): void;
}

export interface WatchLimits {
  /** 0: no idle limit (then no rate limit either). */
  idleMs: number;
  /** 0: no minimum rate. */
  minBytesPerSecond: number;
}

/** What `add` returns: `remove()` once the transfer is over. */
export interface WatchHandle { remove(): void }

class Entry implements WatchHandle {
  lastBytes: number;
  firstBytes: number;
  lastProgressAt: number;
  /** Time counted against the client: elapsed minus blocked time. */
  activeMs = 0;
  lastTickAt: number;

  constructor(readonly owner: ProgressWatch, readonly w: Watched, readonly limits: WatchLimits, at: number) {
    this.firstBytes = this.lastBytes = w.progress();
    this.lastProgressAt = this.lastTickAt = at;
  }

  remove(): void { this.owner.delete(this); }
}

export class ProgressWatch {
  readonly #entries = new Set<Entry>();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  get size(): number { return this.#entries.size; }

  add(w: Watched, limits: WatchLimits): WatchHandle {
    const e = new Entry(this, w, limits, this.now());
    if (limits.idleMs <= 0) return e; // nothing to enforce
    this.#entries.add(e);
    this.#schedule(limits.idleMs);
    return e;
  }

  delete(e: Entry): void {
    this.#entries.delete(e);
    if (this.#entries.size === 0 && this.#timer !== undefined) { clearTimeout(this.#timer); this.#timer = undefined; }
  }

  /** Stops watching everything (shutdown). */
  clear(): void {
    this.#entries.clear();
    if (this.#timer !== undefined) { clearTimeout(this.#timer); this.#timer = undefined; }
  }

  #schedule(idleMs: number): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(this.#tick, Math.min(1000, Math.max(20, Math.floor(idleMs / 4)))).unref();
  }

  readonly #tick = (): void => {
    this.#timer = undefined;
    const t = this.now();
    let shortest = Infinity;
    for (const e of this.#entries) {
      const { idleMs, minBytesPerSecond } = e.limits;
      const bytes = e.w.progress();
      const dt = t - e.lastTickAt;
      e.lastTickAt = t;
      if (bytes !== e.lastBytes || e.w.blocked()) {
        e.lastBytes = bytes;
        e.lastProgressAt = t;
      }
      if (!e.w.blocked()) e.activeMs += dt;
      let why: 'idle' | 'rate' | undefined;
      if (t - e.lastProgressAt >= idleMs) why = 'idle';
      else if (minBytesPerSecond > 0 && e.activeMs >= idleMs && (bytes - e.firstBytes) < (minBytesPerSecond * (e.activeMs - idleMs)) / 1000) why = 'rate';
      if (why !== undefined) {
        this.#entries.delete(e);
        e.w.stalled(why);
        continue;
      }
      shortest = Math.min(shortest, idleMs);
    }
    if (this.#entries.size > 0) this.#schedule(shortest === Infinity ? 1000 : shortest);
  };
}
