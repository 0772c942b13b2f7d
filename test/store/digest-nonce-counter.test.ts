/** The in-memory Digest nc replay store against the shared contract (Redis: test/e2e/redis/nonce-counter.test.ts). */
import { describe, expect, it } from 'vitest';
import { MemoryNonceCounterStore } from '../../src/store/digest-nonce-counter.js';
import { nonce, nonceCounterContract } from '../helpers/nonce-counter-contract.js';

nonceCounterContract('memory', async ({ now, window }) => ({
  store: new MemoryNonceCounterStore({ maxNonces: 1000, now, ...(window !== undefined ? { window } : {}) }),
  cleanup: async () => undefined,
}));

describe('in-memory nc store: maxNonces', () => {
  it('tracks at most maxNonces; a nonce pushed out, and any issued before it, is unknown from then on', async () => {
    const t0 = Date.now();
    const store = new MemoryNonceCounterStore({ maxNonces: 3, now: () => t0 });
    const nonces = [nonce(), nonce(), nonce(), nonce()];
    for (const [i, n] of nonces.entries()) expect(await store.record(n, 1, t0 + i, t0 + 60_000)).toBe('fresh');
    expect(store.size).toBe(3);
    // The least recently used (the first) was dropped: its counts are gone, so it cannot be proven fresh.
    expect(await store.record(nonces[0]!, 2, t0, t0 + 60_000)).toBe('unknown');
    // So is a nonce never seen but issued no later than the one dropped; one issued after it is tracked.
    expect(await store.record(nonce(), 1, t0, t0 + 60_000)).toBe('unknown');
    expect(await store.record(nonce(), 1, t0 + 10, t0 + 60_000)).toBe('fresh');
    // That last one pushed out nonces[1]; the two newest keep their counts.
    for (const [i, n] of nonces.slice(2).entries()) {
      expect(await store.record(n, 1, t0 + i + 2, t0 + 60_000)).toBe('replayed');
      expect(await store.record(n, 2, t0 + i + 2, t0 + 60_000)).toBe('fresh');
    }
    expect(store.size).toBe(3);
  });
});
