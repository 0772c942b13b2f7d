/** The in-memory brute-force throttle: the sliding window, Retry-After, and the bound on the keys it keeps. */
import { describe, expect, it } from 'vitest';
import { TrackgateError } from '../../src/errors.js';
import { MemoryThrottle, type ThrottleKey } from '../../src/store/throttle.js';

const user = (value: string): ThrottleKey[] => [{ scope: 'user', value }];
const refusal = (p: Promise<void>) => p.then(() => undefined, (e: unknown) => e);

describe('MemoryThrottle', () => {
  it('refuses with 429 and Retry-After once a key reaches its limit, and lets it through when the window has slid', async () => {
    let now = 1_000_000;
    const t = new MemoryThrottle({ user: { limit: 3, windowSeconds: 60 }, ip: { limit: 0, windowSeconds: 60 } }, () => now);
    for (let i = 0; i < 3; i++) {
      await t.check(user('alice'));
      await t.fail(user('alice'));
    }
    const err = await refusal(t.check(user('alice')));
    expect(err).toBeInstanceOf(TrackgateError);
    expect((err as TrackgateError).status).toBe(429);
    expect(Number((err as TrackgateError).headers?.['retry-after'])).toBeGreaterThanOrEqual(1);
    await t.check(user('bob'));
    now += 120_000;
    await t.check(user('alice'));
  });

  it('keeps at most 100,000 keys: a flood of other keys pushes the oldest counters out', async () => {
    const t = new MemoryThrottle({ user: { limit: 1, windowSeconds: 600 }, ip: { limit: 0, windowSeconds: 600 } }, () => 1_000_000);
    await t.fail(user('victim'));
    expect(await refusal(t.check(user('victim')))).toBeInstanceOf(TrackgateError);
    for (let i = 0; i < 99_998; i++) await t.fail(user(`flood-${i}`));
    // 99,999 keys: still counted.
    expect(await refusal(t.check(user('victim')))).toBeInstanceOf(TrackgateError);
    for (let i = 99_998; i < 100_000; i++) await t.fail(user(`flood-${i}`));
    // 100,001 keys: the least recently used, flood-0, was pushed out (not the victim: its check refreshed it).
    expect(await refusal(t.check(user('flood-0')))).toBeUndefined();
    expect(await refusal(t.check(user('victim')))).toBeInstanceOf(TrackgateError);
    for (let i = 100_000; i < 200_001; i++) await t.fail(user(`flood-${i}`));
    expect(await refusal(t.check(user('victim')))).toBeUndefined();
  });
});
