/**
 * A bound on the password hashes one process evaluates at once (FIFO). scrypt and argon2id run on libuv's
 * thread pool and bcryptjs on the main thread: without a bound, a burst of cache misses would run them all
 * interleaved, each slower, and take the CPU from cached requests. Waiting is part of a check's measured time,
 * so the failure floor (password-verifier.ts) rises with the queue and timing stays equal under a flood.
 */
export class HashSlots {
  #busy = 0;
  readonly #waiting: (() => void)[] = [];

  /** `limit` is read on every acquire, so a reloaded config applies at once. */
  constructor(private readonly limit: () => number) {}

  get busy(): number { return this.#busy; }
  get waiting(): number { return this.#waiting.length; }

  /** Runs `fn` in a slot, waiting for one when all are taken. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#busy >= this.limit()) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#busy++;
    try {
      return await fn();
    } finally {
      this.#release();
    }
  }

  #release(): void {
    // A waiter takes over the slot (busy stays the same) unless a lowered limit says to give it up.
    const next = this.#busy <= this.limit() ? this.#waiting.shift() : undefined;
    if (next !== undefined) next();
    else this.#busy--;
  }
}
