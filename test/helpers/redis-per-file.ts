/**
 * One redis-server for a whole test file: started before the first test, stopped after the last, and after
 * each test started again / resumed if the test stopped or paused it; `connect` opens a RedisStore (waited
 * until ready) that is closed after the test.
 */
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { RedisStore } from '../../src/store/redis.js';
import { redisConnection, type RedisConnection } from '../../src/store/redis-connection.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

export interface RedisPerFile {
  /** The server (available from beforeAll on). */
  readonly server: RedisServer;
  /** A store on `target` (a URL, or a whole connection), by default this file's server. */
  connect(target?: string | RedisConnection): Promise<RedisStore>;
  /** Closes a store opened some other way after the test. */
  track<T extends { close(): Promise<void> }>(store: T): T;
}

export function redisPerFile(): RedisPerFile {
  let server: RedisServer | undefined;
  const opened: { close(): Promise<void> }[] = [];
  beforeAll(async () => { server = await startRedisServer(); });
  afterAll(async () => { await server?.close(); });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
    if (server !== undefined && !server.running) await server.start();
    server?.resume();
  });
  return {
    get server(): RedisServer {
      if (server === undefined) throw new Error('redis-server not started yet (use it inside tests or hooks)');
      return server;
    },
    track(store) {
      opened.push(store);
      return store;
    },
    async connect(target?: string | RedisConnection): Promise<RedisStore> {
      const store = new RedisStore(typeof target === 'object' ? target : redisConnection({ url: target ?? this.server.url }));
      opened.push(store);
      expect(await store.waitReady(5000)).toBe(true);
      return store;
    },
  };
}
