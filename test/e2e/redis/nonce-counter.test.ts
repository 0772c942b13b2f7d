/**
 * The Redis Digest nc replay store against a real redis-server: the contract shared with the in-memory store,
 * then what only Redis has: the bounded record and its expiry, losing Redis's data, two connections (replicas)
 * racing, and failing closed when Redis is gone or hung.
 */
import { describe, expect, it } from 'vitest';
import { TrackgateError } from '../../../src/errors.js';
import { RedisStore } from '../../../src/store/redis.js';
import { EXPIRY_GRACE_MS, RedisNonceCounter } from '../../../src/store/redis-nonce-counter.js';
import { nonce, nonceCounterContract } from '../../helpers/nonce-counter-contract.js';
import { redisPerFile } from '../../helpers/redis-per-file.js';
import { waitFor } from '../../helpers/wait.js';

const redis = redisPerFile();
const connect = (url?: string): Promise<RedisStore> => redis.connect(url);


nonceCounterContract('redis', async ({ now, window }) => {
  const store = await redis.connect();
  await store.redis.flushall();
  const counter = new RedisNonceCounter(store.redis, { now, ...(window !== undefined ? { window } : {}) });
  await counter.init();
  return { store: counter, cleanup: () => store.close() };
});

async function expectUnavailable(p: Promise<unknown>): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(TrackgateError);
  expect((err as TrackgateError).code).toBe('TG_ERR_STORE_UNAVAILABLE');
  expect((err as TrackgateError).status).toBe(503);
  expect((err as TrackgateError).reason).toBe('unavailable');
}

describe('Redis nc store: layout, expiry, failures', () => {
  it('keeps one bounded record per nonce (bitmap + top), expiring at expiresAt + the grace', async () => {
    const store = await connect();
    await store.redis.flushall();
    const counter = new RedisNonceCounter(store.redis, { now: Date.now });
    await counter.init();
    const n = nonce();
    const issuedAt = Date.now();
    const expiresAt = issuedAt + 300_000;
    for (let nc = 1; nc <= 300; nc++) expect(await counter.record(n, nc, issuedAt, expiresAt)).toBe('fresh');
    expect(await counter.record(n, 1_000_000, issuedAt, expiresAt)).toBe('fresh');
    expect(await store.redis.keys('tg:dnc:n:*')).toEqual([`tg:dnc:n:${n}`]);
    expect(await store.redis.strlen(`tg:dnc:n:${n}`)).toBe(256 / 8 + 8);
    expect(await store.redis.pexpiretime(`tg:dnc:n:${n}`)).toBe(expiresAt + EXPIRY_GRACE_MS);
    // The mark has no expiry: losing it is what tells the store its records may be gone.
    expect(Number(await store.redis.get('tg:dnc:since'))).toBeLessThan(issuedAt);
    expect(await store.redis.pttl('tg:dnc:since')).toBe(-1);
  });

  it('Redis removes the record when the nonce (plus the grace) expires', async () => {
    const store = await connect();
    const counter = new RedisNonceCounter(store.redis, { now: Date.now, expiryGraceMs: 0 });
    await counter.init();
    const n = nonce();
    expect(await counter.record(n, 1, Date.now(), Date.now() + 300)).toBe('fresh');
    expect(await store.redis.exists(`tg:dnc:n:${n}`)).toBe(1);
    // Redis's own clock expires the key (300 ms): wait for that, not for a fixed time.
    expect(await waitFor(async () => (await store.redis.exists(`tg:dnc:n:${n}`)) === 0, 3000)).toBe(true);
  });

  it('Redis lost its data (restart without persistence): a count seen before is unknown, not fresh', async () => {
    const store = await connect();
    await store.redis.flushall();
    let now = Date.now();
    const counter = new RedisNonceCounter(store.redis, { now: () => now });
    await counter.init();
    const n = nonce();
    const issuedAt = now;
    expect(await counter.record(n, 1, issuedAt, issuedAt + 60_000)).toBe('fresh');
    await store.redis.flushall();
    now += 10;
    expect(await counter.record(n, 1, issuedAt, issuedAt + 60_000)).toBe('unknown');
    expect(await counter.record(n, 2, issuedAt, issuedAt + 60_000)).toBe('unknown');
    // Nonces issued from then on are tracked again.
    now += 10;
    expect(await counter.record(nonce(), 1, now, now + 60_000)).toBe('fresh');
  });

  it('two replicas (connections) racing on one count: exactly one is fresh', async () => {
    const [a, b] = [await connect(), await connect()];
    const [ca, cb] = [new RedisNonceCounter(a.redis, { now: Date.now }), new RedisNonceCounter(b.redis, { now: Date.now })];
    await ca.init();
    const n = nonce();
    const issuedAt = Date.now();
    const verdicts = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? ca : cb).record(n, 3, issuedAt, issuedAt + 60_000)));
    expect(verdicts.filter((v) => v === 'fresh')).toHaveLength(1);
    expect(verdicts.filter((v) => v === 'replayed')).toHaveLength(19);
    // What one replica recorded, the other refuses.
    expect(await ca.record(n, 4, issuedAt, issuedAt + 60_000)).toBe('fresh');
    expect(await cb.record(n, 4, issuedAt, issuedAt + 60_000)).toBe('replayed');
  });

  it('Redis stopped: 503 TG_ERR_STORE_UNAVAILABLE at once, never a verdict; init does not throw', async () => {
    const store = await connect();
    const counter = new RedisNonceCounter(store.redis, { now: Date.now });
    await redis.server.stop();
    const t0 = Date.now();
    await expectUnavailable(counter.record(nonce(), 1, Date.now(), Date.now() + 60_000));
    expect(Date.now() - t0).toBeLessThan(1500);
    await expect(counter.init()).resolves.toBeUndefined();
  });

  it('Redis hung: 503 within the command timeout', async () => {
    const store = await connect();
    const counter = new RedisNonceCounter(store.redis, { now: Date.now });
    redis.server.pause();
    const t0 = Date.now();
    await expectUnavailable(counter.record(nonce(), 1, Date.now(), Date.now() + 60_000));
    expect(Date.now() - t0).toBeLessThan(2500);
  });
});
