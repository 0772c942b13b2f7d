/**
 * A fast-check property that counts every case into a {@link CaseTally} instead of stopping at the first
 * failure, so the suite's table shows how many of the runs failed; when some did, it runs the property
 * again with the same seed to shrink a failure to its smallest input for the assertion message.
 */
import fc from 'fast-check';
import type { CaseTally } from './case-tally.js';

/** `check` answers undefined when the case held, else why not; a throw counts as a failure too. */
export type CaseCheck<T> = (input: T) => string | undefined;

function outcome<T>(check: CaseCheck<T>, input: T): string | undefined {
  try {
    return check(input);
  } catch (err) {
    return `threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
  }
}

/**
 * Runs `numRuns` cases of `arb` through `check`, after the fixed `examples` (known attacks, found bugs:
 * tried on every run whatever the seed); returns the shrunk counterexample, or undefined when all held.
 */
export function tallyProperty<T>(tally: CaseTally, arb: fc.Arbitrary<T>, check: CaseCheck<T>, numRuns: number, seed: number, examples: T[] = []): string | undefined {
  const before = tally.failures.length;
  fc.assert(fc.property(arb, (input) => {
    const why = outcome(check, input);
    tally.count(why === undefined ? undefined : `${why} (input ${JSON.stringify(input)?.slice(0, 200)})`);
    return true;
  }), { numRuns, seed, examples: examples.map((e) => [e] as [T]) });
  if (tally.failures.length === before) return undefined;
  const shrunk = fc.check(fc.property(arb, (input) => outcome(check, input) === undefined), { numRuns, seed });
  const example = shrunk.counterexample?.[0];
  return example === undefined ? tally.failures[before] : `${outcome(check, example)} (shrunk input ${JSON.stringify(example)?.slice(0, 300)})`;
}

/** The seed of this run: `RELIABILITY_SEED` to replay one, else a fresh one (printed in failure messages). */
export const RUN_SEED = process.env.RELIABILITY_SEED !== undefined ? Number(process.env.RELIABILITY_SEED) : Math.floor(Math.random() * 2 ** 31);

/** A string made of `parts` (fragments an attacker would combine), up to `max` of them. */
export function fragments(parts: readonly string[], max = 24): fc.Arbitrary<string> {
  return fc.array(fc.constantFrom(...parts), { maxLength: max }).map((a) => a.join(''));
}

/** One octet as a latin1 character (how Node hands raw header bytes to JavaScript). */
export const latin1Char: fc.Arbitrary<string> = fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c));

/** A character Node lets through in a header value: HTAB, SP, VCHAR, obs-text. */
export const fieldChar: fc.Arbitrary<string> = fc.oneof(
  fc.constant('\t'), fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
);
