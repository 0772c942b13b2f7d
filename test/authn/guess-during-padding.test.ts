/**
 * The check-then-record race: a wrong password is counted by the throttle as soon as its hash was evaluated,
 * before the failure padding, so guesses sent while earlier ones still wait out their floor are refused.
 * Each guess is sent once the previous one's hash was evaluated (a condition, not a sleep).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => { for (const o of open.splice(0).reverse()) await o.close(); });

describe('Basic: failures are recorded before the padding', () => {
  it('guesses arriving during earlier ones\' padding: at most the limit (+1) get a password check', async () => {
    const LIMIT = 3;
    const g = await startGate({
      // A long floor: before the fix every guess below was checked while the first still waited.
      config: { throttle: { user: { limit: LIMIT, windowSeconds: 3600 } }, passwords: { failureFloorMs: 3000, maxFailureFloorMs: 3000 } },
    });
    open.push(g);
    let hashes = 0;
    const metrics = g.app.metrics;
    const observe = metrics.passwordCheck.bind(metrics);
    const spy = vi.spyOn(metrics, 'passwordCheck').mockImplementation((e) => {
      if (e.type === 'hash' && e.work !== 'cheap') hashes++;
      observe(e);
    });
    const N = 8;
    const answers: Promise<number>[] = [];
    try {
      for (let i = 0; i < N; i++) {
        const before = hashes;
        answers.push(fetch(`${g.url}/rest/v2/whoami`, { headers: { authorization: basicAuth(DEMO.user, `wrong-${i}`) } })
          .then(async (r) => { await r.arrayBuffer(); return r.status; }));
        // Next guess once this one was evaluated (or refused without a hash: its answer came).
        const settled = answers.at(-1)!.then(() => true);
        await vi.waitFor(async () => {
          if (hashes > before) return;
          if (await Promise.race([settled, Promise.resolve(false)])) return;
          throw new Error('not yet');
        }, { timeout: 10_000, interval: 5 });
      }
      const statuses = await Promise.all(answers);
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(LIMIT + 1);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(N - LIMIT - 1);
      expect(hashes).toBeLessThanOrEqual(LIMIT + 1);
    } finally {
      spy.mockRestore();
    }
  }, 30_000);
});
