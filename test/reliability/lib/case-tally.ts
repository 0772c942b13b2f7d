/**
 * Counting the cases of one reliability class: how many were tried, which failed (with a short reason),
 * and the row for the suite's table. A class records its row before it asserts, so a failing class still
 * shows its counts.
 */
import { recordRow } from '../record.js';

export class CaseTally {
  tried = 0;
  readonly failures: string[] = [];

  constructor(readonly cls: string) {}

  /** Counts one case; `failure` is undefined when it held, else why it did not. */
  count(failure: string | undefined): void {
    this.tried++;
    if (failure !== undefined) this.failures.push(failure);
  }

  /** Writes the table row; the first failures (at most `show`) are what an assertion message should show. */
  record(figure: string, show = 5): string[] {
    recordRow({ cls: this.cls, tried: this.tried, failures: this.failures.length, figure });
    return this.failures.slice(0, show);
  }
}
