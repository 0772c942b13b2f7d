/**
 * A clock for an app under test (`AppOptions.now`, a cache's `now`): the real time until a test pins it, then a
 * time that moves only when the test says, so an expiry or a backoff is crossed exactly, without waiting.
 */
export interface TestClock {
  /** The clock to hand to the code under test. */
  readonly now: () => number;
  /** Stops the clock at `at` (by default the real time now). */
  pin(at?: number): void;
  /** Moves the pinned clock on by `ms`. */
  advance(ms: number): void;
  /** Back to the real time (an `afterEach` does this, so a failed test leaves no pinned clock behind). */
  unpin(): void;
}

export function testClock(): TestClock {
  let pinned: number | undefined;
  return {
    now: () => pinned ?? Date.now(),
    pin: (at = Date.now()) => { pinned = at; },
    advance: (ms) => {
      if (pinned === undefined) throw new Error('testClock: advance() before pin()');
      pinned += ms;
    },
    unpin: () => { pinned = undefined; },
  };
}
