/**
 * Waiting in tests. A test that waits for something to happen polls for it with `waitFor`; a test about time
 * passing injects a clock (`AppOptions.now`, the cache's `now`; see clock.ts) instead of waiting. `sleep` is
 * for inputs that are slow on purpose (a client that sends a byte now and then, an upstream that answers late).
 */

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes (then returns the last value). */
export async function waitFor<T>(fn: () => T | Promise<T>, timeoutMs = 2000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v || Date.now() > deadline) return v;
    await sleep(everyMs);
  }
}

/** Resolves after `ms`: the pace of a deliberately slow input, never a wait for a result. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
