/**
 * How often each key was used lately, approximately: a count-min sketch (4 rows of saturating counters, a key's
 * estimate is the least of its 4) that halves every counter after `10 × capacity` increments, so old fame fades
 * (TinyLFU, Einziger & Friedman 2015; sized as Caffeine sizes its sketch, 16 counters per entry). The validation
 * cache asks it whether a new credential has been used more often than the entry it would evict.
 *
 * Typed arrays only; increments and estimates allocate nothing. Keys arrive as their 32-bit table hash: the
 * cache keys are keyed digests nobody outside can compute, so nobody can aim collisions at another user's counters.
 */
const ROWS = 4;
const MAX_COUNT = 15;
/** Samples per halving, per expected entry. */
const SAMPLES_PER_ENTRY = 10;

export class FrequencySketch {
  readonly #counters: Uint8Array;
  /** The same bytes, four at a time, for the halving. */
  readonly #words: Uint32Array;
  readonly #mask: number;
  readonly #period: number;
  #samples = 0;

  constructor(capacity: number) {
    let width = 8;
    while (width < capacity * 4) width *= 2;
    this.#mask = width - 1;
    this.#counters = new Uint8Array(width * ROWS);
    this.#words = new Uint32Array(this.#counters.buffer);
    this.#period = Math.max(1, capacity) * SAMPLES_PER_ENTRY;
  }

  /** Counts one use of the key with hash `h`. */
  increment(h: number): void {
    for (let row = 0; row < ROWS; row++) {
      const i = this.#index(h, row);
      if (this.#counters[i]! < MAX_COUNT) this.#counters[i]!++;
    }
    if (++this.#samples >= this.#period) this.#halve();
  }

  /** The key's uses since about the last halving (never fewer than the truth, up to 15). */
  estimate(h: number): number {
    let min = MAX_COUNT;
    for (let row = 0; row < ROWS; row++) min = Math.min(min, this.#counters[this.#index(h, row)]!);
    return min;
  }

  /** Counter `row` of hash `h`: each row mixes the hash with its own seed, then takes the row's slice. */
  #index(h: number, row: number): number {
    let x = Math.imul(h ^ SEEDS[row]!, 0x85ebca6b);
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35);
    x ^= x >>> 16;
    return row * (this.#mask + 1) + (x & this.#mask);
  }

  #halve(): void {
    // Each byte is at most 15, so shifting the words right by one and clearing each byte's top bit halves all.
    for (let i = 0; i < this.#words.length; i++) this.#words[i] = (this.#words[i]! >>> 1) & 0x7f7f7f7f;
    this.#samples = Math.floor(this.#samples / 2);
  }
}

const SEEDS = Uint32Array.of(0x9e3779b9, 0x7f4a7c15, 0xf39cc060, 0x5ced1d4b);
