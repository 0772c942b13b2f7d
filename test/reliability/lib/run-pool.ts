/**
 * Runs async jobs with a fixed number in flight: enough to keep a trackgate busy, few enough that a
 * 2-core machine shared with other work answers every one well inside its timeout.
 */
export async function runPool<T>(items: readonly T[], inFlight: number, job: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await job(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, items.length) }, lane));
}
