/** What a caller may inject into an {@link App} besides its config (tests, the demo, cluster workers). */
import type { NonceCounterStore } from '../store/digest-nonce-counter.js';
import type { KeyRing } from '../identity/keys.js';
import type { Logger } from '../observability/log.js';
import type { Throttle } from '../store/throttle.js';

export interface AppOptions {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
  /** Skip prom-client's default process metrics (tests that build many apps). */
  defaultMetrics?: boolean;
  /**
   * Worker processes (src/cluster/): state the primary shares with every worker. `generatedKeys` and
   * `generatedSecret` replace the per-process development key and secret when no keys or secret file is
   * configured; `throttle` replaces the in-memory throttle and `nonceCounter` the Digest form's own nc
   * replay store, both unless the store is Redis (shared by every replica, so it wins).
   */
  generatedKeys?: KeyRing;
  generatedSecret?: Buffer;
  throttle?: Throttle;
  nonceCounter?: NonceCounterStore;
}
