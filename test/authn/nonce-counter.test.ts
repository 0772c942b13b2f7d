/** The in-memory Digest nc replay store against the shared contract (Redis: test/e2e/redis/nonce-counter.test.ts). */
import { MemoryNonceCounterStore } from '../../src/authn/digest-nonce-counter.js';
import { nonceCounterContract } from '../helpers/nonce-counter-contract.js';

nonceCounterContract('memory', async ({ now, window }) => ({
  store: new MemoryNonceCounterStore({ maxNonces: 1000, now, ...(window !== undefined ? { window } : {}) }),
  cleanup: async () => undefined,
}));
