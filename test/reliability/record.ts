/**
 * The reliability table's rows. Each case file of `npm run test:reliability` reports, per case class, how many
 * cases it tried, how many failed and one figure (a latency, a count, a ratio); the run's teardown prints the
 * table and writes it to docs/reliability-last-run.md, which the README's "Reliability" section shows.
 *
 * Rows are appended to a JSON-lines file because vitest runs each case file in its own process.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ReliabilityRow {
  /** The case class, e.g. `framing: TE/CL combinations`. */
  cls: string;
  tried: number;
  failures: number;
  /** The class's headline figure, e.g. `p99 4.1 ms for other clients`; '' when there is none. */
  figure: string;
}

export const RESULTS_FILE = process.env.RELIABILITY_RESULTS ?? new URL('../../.reliability/results.jsonl', import.meta.url).pathname;

/** Records one row. Call it before asserting, so a failing class still shows its counts in the table. */
export function recordRow(row: ReliabilityRow): void {
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  appendFileSync(RESULTS_FILE, `${JSON.stringify(row)}\n`);
}
