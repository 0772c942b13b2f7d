/**
 * Progress of a long CLI command, on stderr: stdout may be read by a program (and `import` prints a line per
 * user there). `inPlace` (stderr is a terminal that stdout does not write to, whose lines would otherwise run
 * into it): one line rewritten in place; otherwise (a log, a pipe) a line at most once a second. Either way
 * nothing is shown until the work has run that long, so a quick command prints nothing more than before.
 * Counts only: never a name or a secret.
 */

export interface ProgressOptions {
  out: { write(s: string): unknown };
  inPlace: boolean;
  /** The clock (epoch ms); tests pass their own. */
  now?: () => number;
}

/** How often a terminal's line is redrawn. */
const TTY_EVERY_MS = 200;
/** How often a line is added to a log. */
const LOG_EVERY_MS = 1000;

export class Progress {
  readonly #out: ProgressOptions['out'];
  readonly #what: string;
  readonly #total: number;
  readonly #now: () => number;
  readonly #everyMs: number;
  readonly #tty: boolean;
  #last: number;
  #shown = false;

  constructor(what: string, total: number, opts: ProgressOptions) {
    this.#out = opts.out;
    this.#what = what;
    this.#total = total;
    this.#now = opts.now ?? Date.now;
    this.#tty = opts.inPlace;
    this.#everyMs = this.#tty ? TTY_EVERY_MS : LOG_EVERY_MS;
    this.#last = this.#now();
  }

  /** `done` of the total are through; shown when the last line is old enough. */
  update(done: number): void {
    const t = this.#now();
    if (t - this.#last < this.#everyMs) return;
    this.#last = t;
    this.#show(`${done} of ${this.#total} (${Math.floor((done * 100) / Math.max(this.#total, 1))}%)`);
  }

  /** The last line (what is left to do, say), if progress was shown: a terminal's line is ended. */
  end(text: string): void {
    if (!this.#shown) return;
    this.#show(text);
    if (this.#tty) this.#out.write('\n');
  }

  #show(text: string): void {
    this.#shown = true;
    // `\r` + erase-to-end-of-line: the new text replaces the old one, however long it was.
    this.#out.write(this.#tty ? `\r${this.#what}: ${text}\x1b[K` : `${this.#what}: ${text}\n`);
  }
}
