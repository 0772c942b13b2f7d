/**
 * The Redis store against a real redis-server: the shared Store contract, then what only Redis has: key
 * expiry, events between instances (pub/sub), `resync` after the subscriber reconnects, fast failure when Redis
 * is gone or hung, and the shared throttle.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TrackgateError } from '../../../src/errors.js';
import { openStore } from '../../../src/store/open.js';
import { MAX_LISTED_PER_SUBJECT, REEMIT_MS, RedisStore, RETAIN_AFTER_EXPIRY_MS } from '../../../src/store/redis.js';
import type { StoreEvent } from '../../../src/store/types.js';
import { RedisThrottle } from '../../../src/store/redis-throttle.js';
import { redisConnection, type RedisConnection } from '../../../src/store/redis-connection.js';
import { redisPerFile } from '../../helpers/redis-per-file.js';
import { startRedisServer } from '../../helpers/redis-server.js';
import { record, storeContract, user } from '../../helpers/store-contract.js';
import { waitFor } from '../../helpers/wait.js';

const redis = redisPerFile();
const connect = (target?: string | RedisConnection): Promise<RedisStore> => redis.connect(target);


/** Waits for `cond` and returns how long that took; throws after `ms`. */
async function until(cond: () => boolean, ms: number): Promise<number> {
  const start = Date.now();
  if (!(await waitFor(cond, ms, 10))) throw new Error(`condition not met within ${ms} ms`);
  return Date.now() - start;
}

async function expectUnavailable(p: Promise<unknown>): Promise<TrackgateError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(TrackgateError);
  expect((err as TrackgateError).code).toBe('TG_ERR_STORE_UNAVAILABLE');
  expect((err as TrackgateError).status).toBe(503);
  expect((err as TrackgateError).reason).toBe('unavailable');
  return err as TrackgateError;
}

storeContract('redis', async () => {
  const store = await connect();
  await store.redis.flushall();
  return { store, cleanup: () => store.close() };
});

describe('Redis store: layout and expiry', () => {
  it('openStore opens redis:// URLs', async () => {
    const store = await openStore({ url: `${redis.server.url}/0` });
    redis.track(store);
    expect(store).toBeInstanceOf(RedisStore);
    await store.ping();
  });

  it('a token hash expires RETAIN_AFTER_EXPIRY_MS after the token; its family set and subject index with their longest member', async () => {
    const store = await connect();
    const family = randomUUID();
    const subject = `u-${randomUUID()}`;
    const short = record({ family, subject, expiresAt: Date.now() + 60_000 });
    const long = record({ family, subject, expiresAt: Date.now() + 600_000 });
    await store.putTokens([long, short]);
    const expiry = (key: string) => store.redis.pexpiretime(key);
    expect(await expiry(`tg:tok:${short.digest}`)).toBe(short.expiresAt + RETAIN_AFTER_EXPIRY_MS);
    expect(await expiry(`tg:tok:${long.digest}`)).toBe(long.expiresAt + RETAIN_AFTER_EXPIRY_MS);
    expect(await expiry(`tg:fam:${family}`)).toBe(long.expiresAt + RETAIN_AFTER_EXPIRY_MS);
    expect(await expiry(`tg:sub:${subject}`)).toBe(long.expiresAt + RETAIN_AFTER_EXPIRY_MS);
    // A later, shorter member does not shorten the set.
    await store.putToken(record({ family, subject, expiresAt: Date.now() + 1000 }));
    expect(await expiry(`tg:fam:${family}`)).toBe(long.expiresAt + RETAIN_AFTER_EXPIRY_MS);
    // Rotation keeps the expiry (the sealed pair must outlive the grace window).
    await store.rotateToken(short.digest, Date.now(), 'sealed');
    expect(await expiry(`tg:tok:${short.digest}`)).toBe(short.expiresAt + RETAIN_AFTER_EXPIRY_MS);
  });

  it('a record past its keep time is not written (and replaces the old one by nothing)', async () => {
    const store = await connect();
    const rec = record();
    await store.putToken(rec);
    await store.putToken({ ...rec, expiresAt: Date.now() - RETAIN_AFTER_EXPIRY_MS - 1000 });
    expect(await store.getToken(rec.digest)).toBeUndefined();
  });

  it('listTokens drops index members whose token is gone', async () => {
    const store = await connect();
    const subject = `u-${randomUUID()}`;
    const a = record({ subject, issuedAt: Date.now() });
    const b = record({ subject, issuedAt: Date.now() + 1 });
    await store.putTokens([a, b]);
    await store.redis.del(`tg:tok:${b.digest}`);
    expect(await store.listTokens({ subject, limit: 1 })).toStrictEqual([a]);
    expect(await store.redis.zrange(`tg:sub:${subject}`, '0', '-1')).toEqual([a.digest]);
  });

  it('deleteUser also revokes the tokens its subject index no longer lists (past MAX_LISTED_PER_SUBJECT)', async () => {
    const store = await connect();
    const u = user();
    expect(await store.createUser(u)).toBe('created');
    const now = Date.now();
    const tokens = Array.from({ length: MAX_LISTED_PER_SUBJECT + 5 }, (_, i) => record({ subject: u.id, issuedAt: now - 10_000 + i }));
    for (let i = 0; i < tokens.length; i += 200) await store.putTokens(tokens.slice(i, i + 200));
    expect(await store.redis.zcard(`tg:sub:${u.id}`)).toBe(MAX_LISTED_PER_SUBJECT);
    const digests = await store.deleteUser(u.id, now);
    expect(digests).toHaveLength(tokens.length);
    // The oldest, dropped from the index, are revoked too.
    for (const t of tokens.slice(0, 5)) expect((await store.getToken(t.digest))?.revokedAt).toBe(now);
  });

  it('stores no token value and no clear user name in key names', async () => {
    const store = await connect();
    await store.redis.flushall();
    const throttle = new RedisThrottle(store.redis, { user: { limit: 5, windowSeconds: 60 }, ip: { limit: 5, windowSeconds: 60 } });
    await throttle.fail([{ scope: 'user', value: 'j.random.user' }, { scope: 'ip', value: '10.1.2.3' }]);
    const keys = await store.redis.keys('*');
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.join(' ')).not.toMatch(/j\.random\.user|10\.1\.2\.3/);
  });
});

describe('Redis store: events between instances', () => {
  it('a revocation on one instance reaches another\'s listeners within a second', async () => {
    const a = await connect();
    const b = await connect();
    const seenA: StoreEvent[] = [];
    const seenB: StoreEvent[] = [];
    a.subscribe((e) => seenA.push(e));
    b.subscribe((e) => seenB.push(e));
    const rec = record();
    await a.putToken(rec);
    await a.revokeTokens([rec.digest], Date.now());
    expect(seenA).toContainEqual({ type: 'revoked', digests: [rec.digest] });
    expect(await until(() => seenB.length > 0, 1000)).toBeLessThan(1000);
    expect(seenB[0]).toEqual({ type: 'revoked', digests: [rec.digest] });
    // Delivered again shortly after (closes the race with a verification in flight); never anything else.
    await until(() => seenB.length >= 2 && seenA.length >= 2, 1000);
    // A marker revoked by B reaches A on the channel after A's own message did (one channel, in order):
    // once A has the marker, its own message has been handled, and must not have been delivered again.
    const marker = record();
    await b.revokeTokens([marker.digest], Date.now());
    await until(() => seenA.some((e) => e.type === 'revoked' && e.digests.includes(marker.digest)), 1000);
    const ofRec = (seen: StoreEvent[]): StoreEvent[] => seen.filter((e) => !(e.type === 'revoked' && e.digests.includes(marker.digest)));
    expect(ofRec(seenA)).toEqual([{ type: 'revoked', digests: [rec.digest] }, { type: 'revoked', digests: [rec.digest] }]);
    expect(ofRec(seenB)).toEqual([{ type: 'revoked', digests: [rec.digest] }, { type: 'revoked', digests: [rec.digest] }]);
  });

  it('a family kill on one instance reaches another', async () => {
    const a = await connect();
    const b = await connect();
    const seenB: StoreEvent[] = [];
    b.subscribe((e) => seenB.push(e));
    const family = randomUUID();
    const recs = [record({ family, type: 'access' }), record({ family, type: 'refresh' })];
    await a.putTokens(recs);
    const revoked = await a.revokeFamily(family, Date.now());
    await until(() => seenB.length > 0, 1000);
    const e = seenB[0]!;
    expect(e.type === 'revoked' ? [...e.digests].sort() : e).toEqual([...revoked].sort());
    expect(revoked.sort()).toEqual(recs.map((r) => r.digest).sort());
  });

  it('after the subscriber connection drops and comes back: resync, and events flow again', async () => {
    const a = await connect();
    const b = await connect();
    const seenB: StoreEvent[] = [];
    b.subscribe((e) => seenB.push(e));
    expect(await redis.server.command('CLIENT KILL TYPE pubsub')).toMatch(/^:[1-9]/);
    await until(() => seenB.some((e) => e.type === 'resync'), 5000);
    await b.ping();
    const rec = record();
    await a.putToken(rec);
    await a.revokeTokens([rec.digest], Date.now());
    await until(() => seenB.some((e) => e.type === 'revoked'), 1000);
  });
});

describe('Redis store: unreachable', () => {
  it('nothing listening: start-up does not hang, every operation fails fast as TG_ERR_STORE_UNAVAILABLE', async () => {
    const probe = await startRedisServer();
    const url = probe.url;
    await probe.close();
    const started = Date.now();
    const store = await openStore({ url }) as RedisStore;
    redis.track(store);
    expect(Date.now() - started).toBeLessThan(5000);
    const t0 = Date.now();
    await expectUnavailable(store.getToken('x'));
    await expectUnavailable(store.putToken(record()));
    await expectUnavailable(store.revokeTokens(['x'], Date.now()));
    await expectUnavailable(store.rotateToken('x', Date.now(), 'p'));
    await expectUnavailable(store.revokeFamily('f', Date.now()));
    await expectUnavailable(store.listTokens({ limit: 5 }));
    await expectUnavailable(store.ping());
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('redis-server stopped: fails fast; started again: the store reconnects by itself, resync once it answers', async () => {
    const store = await connect();
    const seen: StoreEvent[] = [];
    // A listener drops its cache on `resync` and reads the store at once: by then commands must be answered.
    const readsOnResync: Promise<string>[] = [];
    store.subscribe((e) => {
      seen.push(e);
      if (e.type === 'resync') readsOnResync.push(store.getToken('x').then(() => 'answered', (err: Error) => err.message));
    });
    await redis.server.stop();
    await until(() => store.redis.status !== 'ready', 2000);
    const t0 = Date.now();
    await expectUnavailable(store.getToken('x'));
    await expectUnavailable(store.ping());
    expect(Date.now() - t0).toBeLessThan(500);
    await redis.server.start();
    await until(() => seen.some((e) => e.type === 'resync'), 10_000);
    expect(await Promise.all(readsOnResync)).toEqual(readsOnResync.map(() => 'answered'));
    await store.ping();
    const rec = record();
    await store.putToken(rec);
    expect(await store.getToken(rec.digest)).toStrictEqual(rec);
  });

  it('redis-server hung: a command gives up after about a second', async () => {
    const store = await connect();
    redis.server.pause();
    try {
      const t0 = Date.now();
      const err = await expectUnavailable(store.getToken('x'));
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(2000);
      expect(err.detail).toMatch(/timed out/i);
    } finally {
      redis.server.resume();
    }
    await until(() => store.redis.status === 'ready', 5000);
    await store.ping();
  });
});

describe('Redis throttle', () => {
  const rules = { user: { limit: 3, windowSeconds: 60 }, ip: { limit: 0, windowSeconds: 60 } };

  it('failures counted through one replica throttle the others', async () => {
    const a = await connect();
    const b = await connect();
    const ta = new RedisThrottle(a.redis, rules);
    const tb = new RedisThrottle(b.redis, rules);
    const user = `u-${randomUUID()}`;
    const keys = [{ scope: 'user' as const, value: user }, { scope: 'ip' as const, value: '127.0.0.1' }];
    for (let i = 0; i < 3; i++) {
      await tb.check(keys);
      await ta.fail(keys);
    }
    const err = await tb.check(keys).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(TrackgateError);
    expect((err as TrackgateError).code).toBe('TG_ERR_THROTTLED');
    const retryAfter = Number((err as TrackgateError).headers?.['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Another user is not affected; ip limit 0 means unlimited (and is not even written).
    await tb.check([{ scope: 'user', value: `u-${randomUUID()}` }, { scope: 'ip', value: '127.0.0.1' }]);
    expect(await a.redis.keys('tg:thr:ip:*')).toEqual([]);
  });

  it('the previous window still counts, weighted by its overlap', async () => {
    const store = await connect();
    let now = Math.floor(Date.now() / 60_000) * 60_000; // the start of a window (near real time: keys expire by Redis' clock)
    const t = new RedisThrottle(store.redis, rules, () => now);
    const keys = [{ scope: 'user' as const, value: `u-${randomUUID()}` }];
    for (let i = 0; i < 3; i++) await t.fail(keys);
    now += 60_000 + 15_000; // next window, 25 % in: 3 × 0.75 = 2.25 < 3
    await t.check(keys);
    await t.fail(keys); // 2.25 + 1 ≥ 3
    await expect(t.check(keys)).rejects.toMatchObject({ code: 'TG_ERR_THROTTLED' });
  });

  it('Redis unreachable: falls back to this replica\'s own counts', async () => {
    const store = await connect();
    const t = new RedisThrottle(store.redis, rules);
    const keys = [{ scope: 'user' as const, value: `u-${randomUUID()}` }];
    await redis.server.stop();
    await until(() => store.redis.status !== 'ready', 2000);
    await t.check(keys);
    for (let i = 0; i < 3; i++) await t.fail(keys);
    await expect(t.check(keys)).rejects.toMatchObject({ code: 'TG_ERR_THROTTLED' });
  });
});

describe('Redis store: key prefixes', () => {
  it('two deployments with different prefixes on one Redis see neither each other\'s tokens, users, events nor counts', async () => {
    const on = (keyPrefix: string) => connect({ ...redisConnection({ url: redis.server.url }), keyPrefix });
    const a = await on('fleet-a:');
    const a2 = await on('fleet-a:');
    const b = await on('fleet-b:');
    const seenA2: StoreEvent[] = [];
    const seenB: StoreEvent[] = [];
    a2.subscribe((e) => seenA2.push(e));
    b.subscribe((e) => seenB.push(e));
    const rec = record({ family: randomUUID() });
    await a.putToken(rec);
    expect(await a2.getToken(rec.digest)).toStrictEqual(rec);
    expect(await b.getToken(rec.digest)).toBeUndefined();
    expect(await b.listTokens({ limit: 10 })).toEqual([]);
    // The same digest in both: each its own record, revoked on its own.
    await b.putToken(rec);
    expect(await a.revokeTokens([rec.digest], Date.now())).toBe(1);
    expect((await b.getToken(rec.digest))?.revokedAt).toBeUndefined();
    expect(await b.revokeFamily(rec.family!, Date.now())).toEqual([rec.digest]);
    // A's revocation reached A's other replica, not B (which saw its own family kill only).
    await until(() => seenA2.length > 0, 1000);
    expect(seenB.length).toBeGreaterThan(0);
    const u = { id: randomUUID(), username: `u-${randomUUID()}`, app: 'x', anonymous: false, displayName: 'U', createdAt: Date.now() };
    expect(await a.createUser(u)).toBe('created');
    expect(await b.getUserByUsername(u.username)).toBeUndefined();
    expect(await b.createUser(u)).toBe('created');
    const rules = { user: { limit: 1, windowSeconds: 60 }, ip: { limit: 0, windowSeconds: 60 } };
    const keys = [{ scope: 'user' as const, value: `u-${randomUUID()}` }];
    await new RedisThrottle(a.redis, rules, Date.now, a.keys).fail(keys);
    await expect(new RedisThrottle(a2.redis, rules, Date.now, a2.keys).check(keys)).rejects.toMatchObject({ code: 'TG_ERR_THROTTLED' });
    await new RedisThrottle(b.redis, rules, Date.now, b.keys).check(keys);
    const all = await a.redis.keys('*');
    expect(all.filter((k) => k.startsWith('fleet-a:')).length).toBeGreaterThan(0);
    expect(all.filter((k) => k.startsWith('fleet-b:')).length).toBeGreaterThan(0);
    expect(all.every((k) => k.startsWith('fleet-a:') || k.startsWith('fleet-b:'))).toBe(true);
    await new Promise((r) => setTimeout(r, REEMIT_MS + 100));
    // Every event B got is its own family kill (delivered locally, then once more): none of A's.
    expect(seenB).toEqual([{ type: 'revoked', digests: [rec.digest] }, { type: 'revoked', digests: [rec.digest] }]);
  });
});
