/**
 * What replicas share through Redis besides tokens: the brute-force throttle and the Digest `nc` replay store.
 *
 * Loaded on demand, with the Redis store itself (see open.ts): a SQLite deployment never loads the Redis
 * client, which is the largest module trackgate could import (~15 MiB of resident memory measured).
 */
import type { NonceCounterStore } from './digest-nonce-counter.js';
import type { RedisTopology } from './redis-topology.js';
import type { Throttle, ThrottleRules } from './throttle.js';
import type { Store } from './types.js';

export interface SharedState {
  throttle: Throttle;
  nonceCounter: NonceCounterStore;
  /** The Redis topology's health (readiness, metrics); never rejects. */
  topology: () => Promise<RedisTopology>;
}

/** The Redis-backed throttle and nonce store over `store`'s connection; undefined unless `store` is Redis. */
export async function redisSharedState(store: Store, throttle: () => ThrottleRules, now: () => number): Promise<SharedState | undefined> {
  if (store.engine !== 'redis') return undefined;
  const [{ RedisStore }, { RedisThrottle }, { RedisNonceCounter }, { RedisTopologyProbe }] = await Promise.all([
    import('./redis.js'), import('./redis-throttle.js'), import('./redis-nonce-counter.js'), import('./redis-topology.js'),
  ]);
  if (!(store instanceof RedisStore)) return undefined;
  const nonceCounter = new RedisNonceCounter(store.redis, { now, keys: store.keys });
  // Nonces issued from now on are tracked from their first use (see RedisNonceCounter's mark).
  await nonceCounter.init();
  const probe = new RedisTopologyProbe(store);
  return { throttle: new RedisThrottle(store.redis, throttle, now, store.keys), nonceCounter, topology: () => probe.topology() };
}
