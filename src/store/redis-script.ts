/** A Lua script run by SHA (EVALSHA), loaded on first NOSCRIPT, for every Redis-backed part of the store. */
import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.js';

/** A Lua script run by SHA, loaded on first NOSCRIPT (never re-run after any other failure). */
export class Script {
  readonly #sha: string;
  constructor(readonly source: string) {
    this.#sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.#sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return redis.eval(this.source, keys.length, ...keys, ...args);
      throw err;
    }
  }
}
