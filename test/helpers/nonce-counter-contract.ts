/**
 * The Digest `nc` replay store contract, one suite run against every implementation
 * (test/authn/nonce-counter.test.ts: in memory; test/e2e/redis/nonce-counter.test.ts: Redis). Each test gets a
 * fresh store from `open`, created at the test clock's current time, which the test may move forward.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NonceCounterStore } from '../../src/store/digest-nonce-counter.js';

export interface OpenedCounter {
  store: NonceCounterStore;
  /** Closes the store and removes what it left behind. */
  cleanup(): Promise<void>;
}

export interface OpenCounterOptions {
  /** The store's clock (epoch ms). */
  now: () => number;
  /** Counts tracked below the highest one; the implementation's default when absent. */
  window?: number;
}

/** A nonce-shaped value (48 base64url characters), distinct per call. */
export function nonce(): string {
  return randomBytes(36).toString('base64url');
}

export function nonceCounterContract(name: string, open: (opts: OpenCounterOptions) => Promise<OpenedCounter>): void {
  describe(`nc replay store contract: ${name}`, () => {
    // Real time (Redis expires keys by its own clock), moved forward by the expiry test only.
    let now = 0;
    let issued = 0;
    let expires = 0;
    const clock = () => now;
    const opened: OpenedCounter[] = [];
    const openStore = async (window?: number): Promise<NonceCounterStore> => {
      const o = await open({ now: clock, ...(window !== undefined ? { window } : {}) });
      opened.push(o);
      return o.store;
    };
    beforeEach(() => {
      now = Date.now();
      issued = now;
      expires = now + 60_000;
    });
    afterEach(async () => { await Promise.all(opened.splice(0).map((o) => o.cleanup())); });

    it('first use of a count is fresh; each nonce has its own counts', async () => {
      const s = await openStore();
      const [a, b] = [nonce(), nonce()];
      expect(await s.record(a, 1, issued, expires)).toBe('fresh');
      expect(await s.record(b, 1, issued, expires)).toBe('fresh');
      expect(await s.record(a, 1, issued, expires)).toBe('replayed');
    });

    it('increasing counts are each fresh once; replaying the latest or an earlier one is refused', async () => {
      const s = await openStore();
      const n = nonce();
      for (let nc = 1; nc <= 5; nc++) expect(await s.record(n, nc, issued, expires)).toBe('fresh');
      expect(await s.record(n, 5, issued, expires)).toBe('replayed');
      expect(await s.record(n, 3, issued, expires)).toBe('replayed');
      expect(await s.record(n, 1, issued, expires)).toBe('replayed');
      expect(await s.record(n, 6, issued, expires)).toBe('fresh');
    });

    it('out of order within the window: each count is accepted once', async () => {
      const s = await openStore();
      const n = nonce();
      for (const nc of [10, 7, 9, 8, 1, 200]) expect(await s.record(n, nc, issued, expires), `nc ${nc}`).toBe('fresh');
      for (const nc of [7, 8, 9, 10, 1, 200]) expect(await s.record(n, nc, issued, expires), `nc ${nc} again`).toBe('replayed');
      // 200 - 256 < 2 ≤ 200: still inside the default window, and never used.
      expect(await s.record(n, 2, issued, expires)).toBe('fresh');
    });

    it('below the window: unknown (the client gets stale=true), never fresh; the window slides and wraps', async () => {
      const s = await openStore(64);
      const n = nonce();
      expect(await s.record(n, 1, issued, expires)).toBe('fresh');
      expect(await s.record(n, 100, issued, expires)).toBe('fresh'); // a jump past the window forgets what is below
      expect(await s.record(n, 36, issued, expires)).toBe('unknown'); // 100 - 64
      expect(await s.record(n, 1, issued, expires)).toBe('unknown');
      expect(await s.record(n, 37, issued, expires)).toBe('fresh');
      expect(await s.record(n, 37, issued, expires)).toBe('replayed');
      // 164 takes 100's slot (164 mod 64 = 100 mod 64): a new count, and 100 falls out of the window.
      expect(await s.record(n, 164, issued, expires)).toBe('fresh');
      expect(await s.record(n, 100, issued, expires)).toBe('unknown');
      expect(await s.record(n, 163, issued, expires)).toBe('fresh');
      expect(await s.record(n, 101, issued, expires)).toBe('fresh'); // 37's slot, but 37 is out of the window now
      expect(await s.record(n, 164, issued, expires)).toBe('replayed');
      // A partial slide (to 200): the slots of 165..200 are cleared one by one, those of 137..164 kept.
      expect(await s.record(n, 200, issued, expires)).toBe('fresh');
      expect(await s.record(n, 163, issued, expires)).toBe('replayed');
      expect(await s.record(n, 164, issued, expires)).toBe('replayed');
      expect(await s.record(n, 150, issued, expires)).toBe('fresh');
      expect(await s.record(n, 136, issued, expires)).toBe('unknown'); // 200 - 64
      expect(await s.record(n, 101, issued, expires)).toBe('unknown');
      expect(await s.record(n, 165, issued, expires)).toBe('fresh'); // 101's slot: a new count, not a replay
      expect(await s.record(n, 165, issued, expires)).toBe('replayed');
    });

    it('counts that are not integers ≥ 1 are unknown', async () => {
      const s = await openStore();
      const n = nonce();
      for (const nc of [0, -1, 1.5, Number.NaN]) expect(await s.record(n, nc, issued, expires), `nc ${nc}`).toBe('unknown');
      expect(await s.record(n, 1, issued, expires)).toBe('fresh');
    });

    it('a nonce issued before the store existed is unknown (it may have been used where this store cannot see)', async () => {
      const s = await openStore();
      expect(await s.record(nonce(), 1, issued - 5_000, expires)).toBe('unknown');
      expect(await s.record(nonce(), 1, issued, expires)).toBe('fresh');
    });

    it('expiry: once the nonce has expired, its counts are unknown, never fresh', async () => {
      const s = await openStore();
      const n = nonce();
      const soon = now + 1_000;
      expect(await s.record(n, 1, issued, soon)).toBe('fresh');
      expect(await s.record(n, 2, issued, soon)).toBe('fresh');
      now = soon;
      expect(await s.record(n, 1, issued, soon)).toBe('unknown');
      expect(await s.record(n, 3, issued, soon)).toBe('unknown');
      // Other nonces are not affected.
      expect(await s.record(nonce(), 1, now, now + 60_000)).toBe('fresh');
    });

    it('concurrent uses of one count: exactly one is fresh', async () => {
      const s = await openStore();
      const n = nonce();
      const verdicts = await Promise.all(Array.from({ length: 20 }, () => s.record(n, 7, issued, expires)));
      expect(verdicts.filter((v) => v === 'fresh')).toHaveLength(1);
      expect(verdicts.filter((v) => v === 'replayed')).toHaveLength(19);
    });
  });
}
