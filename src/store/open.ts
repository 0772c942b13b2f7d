/** Opens the store a `store.url` names (`store` config: url, and the SQLite page cache size). */
import { resolve } from 'node:path';
import { TrackgateError } from '../errors.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

/** How long start-up waits for Redis before going on unready (the store keeps reconnecting; `/readyz` says 503). */
const REDIS_START_WAIT_MS = 3000;

export async function openStore({ url, sqliteCacheBytes }: { url: string; sqliteCacheBytes?: number }): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    return new SqliteStore(path === ':memory:' ? path : resolve(path), { cacheBytes: sqliteCacheBytes });
  }
  if (url.startsWith('redis://') || url.startsWith('rediss://')) {
    // Imported only when configured: the Redis client is the largest module trackgate could load.
    const { RedisStore } = await import('./redis.js');
    const store = new RedisStore(url);
    await store.waitReady(REDIS_START_WAIT_MS);
    return store;
  }
  throw new TrackgateError('TG_ERR_STORE_UNAVAILABLE', 'store engine not available', {
    detail: `store.url ${url.split(':')[0]}: use sqlite:<path>, redis://host:port[/db] or rediss://host:port[/db]`,
  });
}
