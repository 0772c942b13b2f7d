/** Opens the store a `store.url` names. */
import { resolve } from 'node:path';
import { TrackgateError } from '../errors.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export async function openStore(url: string): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    return new SqliteStore(path === ':memory:' ? path : resolve(path));
  }
  throw new TrackgateError('TG_ERR_STORE_UNAVAILABLE', 'store engine not available', {
    detail: `store.url ${url.split(':')[0]}: this build supports sqlite: only (the Redis engine is tracked in the token-endpoints issue)`,
  });
}
