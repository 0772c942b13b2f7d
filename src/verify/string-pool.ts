/**
 * A bounded pool of shared strings (interning). Names read from a store row or a token are new strings each
 * time; an identity cached for hours keeps its copies, so 100,000 cached identities of one account would hold
 * 100,000 equal account strings. The pool hands back one canonical copy instead.
 *
 * Bounded: past `max` distinct values it starts over (the strings already handed out stay valid, only the
 * sharing of later ones restarts), so a flood of distinct values cannot grow it.
 */
export class StringPool {
  readonly #pool = new Map<string, string>();

  constructor(private readonly max: number) {}

  /** The pool's copy of `s` (equal to `s`). */
  intern(s: string): string {
    const shared = this.#pool.get(s);
    if (shared !== undefined) return shared;
    if (this.#pool.size >= this.max) this.#pool.clear();
    this.#pool.set(s, s);
    return s;
  }

  get size(): number { return this.#pool.size; }
}
