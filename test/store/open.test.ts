/**
 * `store.url`: which URLs the schema accepts, and which engine `openStore` opens for each.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config-schema.js';
import { TrackgateError } from '../../src/errors.js';
import { openStore } from '../../src/store/open.js';
import { SqliteStore } from '../../src/store/sqlite.js';

const accepts = (url: string) => configSchema.safeParse({ store: { url } }).success;

describe('store.url', () => {
  it.each([
    'sqlite:data/trackgate.sqlite', 'sqlite::memory:', 'redis://127.0.0.1', 'redis://redis:6379', 'redis://redis:6379/2',
    'redis://:secret@redis:6379/0', 'redis://user:secret@redis', 'rediss://redis.example.com:6380', 'redis://[::1]:6379',
  ])('accepts %s', (url) => {
    expect(accepts(url)).toBe(true);
  });

  it.each([
    'sqlite:', 'redis://', 'redis:///0', 'redis://redis/db', 'redis://redis:6379?enableOfflineQueue=true', 'redis://redis#x',
    'memcached://redis', 'http://redis:6379', 'redis:6379',
  ])('rejects %s, naming both engines', (url) => {
    const r = configSchema.safeParse({ store: { url } });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/sqlite:.*redis:\/\//);
  });

  it('openStore: sqlite: opens the SQLite engine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trackgate-open-'));
    try {
      const store = await openStore({ url: `sqlite:${join(dir, 'store.sqlite')}` });
      expect(store).toBeInstanceOf(SqliteStore);
      expect(store.engine).toBe('sqlite');
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('openStore: store.sqliteCacheBytes sizes the SQLite page cache (default 2 MiB, not the 16 MiB of the SQLite build)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trackgate-open-'));
    try {
      const url = `sqlite:${join(dir, 'store.sqlite')}`;
      const byDefault = await openStore(configSchema.parse({ store: { url } }).store) as SqliteStore;
      expect(byDefault.cacheBytes).toBe(2 * 1024 * 1024);
      await byDefault.close();
      const sized = await openStore(configSchema.parse({ store: { url, sqliteCacheBytes: 8 * 1024 * 1024 } }).store) as SqliteStore;
      expect(sized.cacheBytes).toBe(8 * 1024 * 1024);
      await sized.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([1024, 2 ** 31, 1.5e6 + 0.5])('store.sqliteCacheBytes: %d is refused', (bytes) => {
    expect(configSchema.safeParse({ store: { sqliteCacheBytes: bytes } }).success).toBe(false);
  });

  it('openStore: an unknown engine is TG_ERR_STORE_UNAVAILABLE', async () => {
    const err = await openStore({ url: 'memcached://x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrackgateError);
    expect((err as TrackgateError).code).toBe('TG_ERR_STORE_UNAVAILABLE');
  });
});
