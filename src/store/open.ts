/** Opens the store a `store.url` names (`store` config: url, the SQLite page cache size, the Redis connection). */
import { resolve } from 'node:path';
import { isRedisUrl } from '../config/redis-url.js';
import { TrackgateError } from '../errors.js';
import { redisConnection, type RedisStoreConfig } from './redis-connection.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

/** How long start-up waits for Redis before going on unready (the store keeps reconnecting; `/readyz` says 503). */
const REDIS_START_WAIT_MS = 3000;

export type StoreOptions = RedisStoreConfig & { sqliteCacheBytes?: number };

/** `env`: where `store.redis.passwordEnv` is read. */
export async function openStore(config: StoreOptions, env: NodeJS.ProcessEnv = process.env): Promise<Store> {
  const { url, sqliteCacheBytes } = config;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    return new SqliteStore(path === ':memory:' ? path : resolve(path), { cacheBytes: sqliteCacheBytes });
  }
  if (isRedisUrl(url)) {
    // Imported only when configured: the Redis client is the largest module trackgate could load.
    const { RedisStore } = await import('./redis.js');
    const store = new RedisStore(redisConnection(config, env));
    await store.waitReady(REDIS_START_WAIT_MS);
    return store;
  }
  throw new TrackgateError('TG_ERR_STORE_UNAVAILABLE', 'store engine not available', {
    detail: `store.url ${url.split(':')[0]}: use sqlite:<path> or a Redis URL (redis://, redis-sentinel://, redis-cluster://; rediss… for TLS)`,
  });
}
