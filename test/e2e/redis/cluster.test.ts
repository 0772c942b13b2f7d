/**
 * The Redis store suite on a real Redis Cluster (three masters with a replica each, made by `redis-cli --cluster
 * create`): the Store contract (issuance, rotation under contention, family kill, user uniqueness), the
 * targeted-lockout throttle and the Digest `nc` store contracts, revocation reaching another instance within a
 * second, and the layout that keeps each script in one slot while the throttle and nonce keys spread out.
 */
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../../src/store/redis.js';
import { checkRedisStore } from '../../../src/store/redis-check.js';
import { redisConnection } from '../../../src/store/redis-connection.js';
import { RedisNonceCounter } from '../../../src/store/redis-nonce-counter.js';
import { RedisThrottle } from '../../../src/store/redis-throttle.js';
import { RedisTopologyProbe } from '../../../src/store/redis-topology.js';
import type { StoreEvent } from '../../../src/store/types.js';
import { nonce, nonceCounterContract } from '../../helpers/nonce-counter-contract.js';
import { startClusterSetup, type ClusterSetup } from '../../helpers/redis-cluster.js';
import { record, storeContract } from '../../helpers/store-contract.js';
import { inventoryContract, sighting } from '../../helpers/inventory-contract.js';
import { lockoutContract } from '../../helpers/throttle-contract.js';
import { waitFor } from '../../helpers/wait.js';

let cluster: ClusterSetup;
const opened: RedisStore[] = [];
beforeAll(async () => { cluster = await startClusterSetup(); }, 90_000);
afterAll(async () => { await cluster?.close(); });
afterEach(async () => { await Promise.all(opened.splice(0).map((s) => s.close())); });

async function connect(): Promise<RedisStore> {
  const store = new RedisStore(redisConnection({ url: cluster.url }));
  opened.push(store);
  expect(await store.waitReady(10_000)).toBe(true);
  return store;
}

function masters(store: RedisStore): ReturnType<Cluster['nodes']> {
  expect(store.redis).toBeInstanceOf(Cluster);
  return (store.redis as Cluster).nodes('master');
}

/** The hash slot of `key`, as the cluster computes it. */
async function slotOf(key: string): Promise<number> {
  return Number(/(\d+)/.exec(await cluster.nodes[0]!.command(`CLUSTER KEYSLOT ${key}`))?.[1]);
}

async function flush(store: RedisStore): Promise<void> {
  await Promise.all(masters(store).map((m) => m.flushall()));
}

storeContract('redis', async () => {
  const store = await connect();
  await flush(store);
  return { store, cleanup: () => store.close() };
});

inventoryContract('redis cluster', async () => {
  const store = await connect();
  await flush(store);
  return store;
});

describe('Redis Cluster: throttle', () => {
  lockoutContract(async (rules) => {
    const store = await connect();
    return new RedisThrottle(store.redis, rules, Date.now, store.keys);
  });
});

nonceCounterContract('redis cluster', async ({ now, window }) => {
  const store = await connect();
  await flush(store);
  const counter = new RedisNonceCounter(store.redis, { now, keys: store.keys, ...(window !== undefined ? { window } : {}) });
  await counter.init();
  return { store: counter, cleanup: () => store.close() };
});

describe('Redis Cluster: events and layout', () => {
  it('a revocation and a family kill on one instance reach another within a second', async () => {
    const a = await connect();
    const b = await connect();
    const seenB: StoreEvent[] = [];
    b.subscribe((e) => seenB.push(e));
    const rec = record();
    await a.putToken(rec);
    await a.revokeTokens([rec.digest], Date.now());
    expect(await waitFor(() => seenB.some((e) => e.type === 'revoked' && e.digests.includes(rec.digest)), 1000)).toBe(true);
    const family = randomUUID();
    const pair = [record({ family, type: 'access' }), record({ family, type: 'refresh' })];
    await a.putTokens(pair);
    const killed = await a.revokeFamily(family, Date.now());
    expect(killed.sort()).toEqual(pair.map((r) => r.digest).sort());
    expect(await waitFor(() => seenB.some((e) => e.type === 'revoked' && e.digests.includes(pair[0]!.digest)), 1000)).toBe(true);
    expect((await b.getToken(pair[1]!.digest))?.revokedAt).toBeDefined();
  });

  it('each subject\'s tokens are one slot, subjects spread over the masters; throttle and nonce keys spread too', async () => {
    const store = await connect();
    await flush(store);
    const slot = slotOf;
    for (let i = 0; i < 30; i++) await store.putTokens([record({ subject: `subject-${i}`, family: randomUUID() }), record({ subject: `subject-${i}` })]);
    const throttle = new RedisThrottle(store.redis, { user: { limit: 5, windowSeconds: 60 }, ip: { limit: 5, windowSeconds: 60 } }, Date.now, store.keys);
    const counter = new RedisNonceCounter(store.redis, { now: Date.now, keys: store.keys });
    await counter.init();
    for (let i = 0; i < 40; i++) {
      await throttle.fail([{ scope: 'user', value: `u-${i}-${randomUUID()}` }]);
      expect(await counter.record(nonce(), 1, Date.now(), Date.now() + 60_000)).toBe('fresh');
    }
    const keysOn = await Promise.all(masters(store).map((m) => m.keys('*')));
    const holding = (pattern: RegExp) => keysOn.filter((ks) => ks.some((k) => pattern.test(k))).length;
    expect(holding(/^\{tg:s:[^}]+\}(tok|fam|sub):/)).toBe(3);
    expect(holding(/^tg:loc:\{tok:/)).toBe(3);
    expect(holding(/^tg:thr:\{user:/)).toBe(3);
    expect(holding(/^tg:dnc:\{\d+\}:n:/)).toBe(3);
    // Nothing of the new writes sits in the one-slot layout's slot.
    expect(keysOn.flat().filter((k) => k.startsWith('{tg:}'))).toEqual([]);
    // Two subjects: two slots. One subject: its token, family and index keys in one.
    const k = store.keys;
    const [alice, bob] = [k.subjectTag('alice'), k.subjectTag('bob')];
    expect(await slot(k.token(alice, 'x'))).not.toBe(await slot(k.token(bob, 'x')));
    expect(new Set([await slot(k.token(alice, 'x')), await slot(k.family(alice, 'f')), await slot(k.subject(alice, 'alice'))]).size).toBe(1);
    // The cluster refuses a script over two subjects' keys, so each store operation that succeeded above and in
    // the contract suite touched one slot.
    await expect(store.redis.eval('return 1', 2, k.token(alice, 'x'), k.token(bob, 'x'))).rejects.toThrow(/CROSSSLOT/);
    // An operator's listing scans every master.
    expect(await store.listTokens({ limit: 100 })).toHaveLength(60);
  });

  it('two subjects on two masters: pair, rotation, reuse kill and user delete each work on their own slot', async () => {
    const store = await connect();
    await flush(store);
    // The master ioredis routes a tag's slot to.
    const owner = async (tag: string) => (store.redis as Cluster).slots[await slotOf(tag)]?.[0];
    let other = 0;
    while (await owner(store.keys.subjectTag(`user-${other}`)) === await owner(store.keys.subjectTag('user-a'))) other++;
    const subjects = ['user-a', `user-${other}`];
    for (const subject of subjects) {
      const family = randomUUID();
      const pair = [record({ subject, family, type: 'access' }), record({ subject, family, type: 'refresh' })];
      await store.putTokens(pair);
      expect(await store.rotateToken(pair[1]!.digest, Date.now(), 'sealed')).toBe(true);
      expect(await store.rotateToken(pair[1]!.digest, Date.now(), 'sealed')).toBe(false);
      expect((await store.revokeFamily(family, Date.now())).sort()).toEqual([pair[0]!.digest]);
      const u = { id: subject, username: `name-${subject}`, app: 'demo-app', anonymous: false, displayName: 'U', createdAt: Date.now() };
      expect(await store.createUser(u)).toBe('created');
      const later = record({ subject });
      await store.putToken(later);
      expect(await store.deleteUser(subject, Date.now())).toEqual([later.digest]);
      expect(await store.getUser(subject)).toBeUndefined();
      expect((await store.getToken(later.digest))?.revokedAt).toBeDefined();
    }
  });

  it('tokens of the one-slot layout of earlier versions are still found, rotated, listed and revoked', async () => {
    const store = await connect();
    await flush(store);
    const { directory } = store.keys;
    const now = Date.now();
    const family = randomUUID();
    const old = ['access', 'refresh'].map((type) => record({ subject: 'old-user', family, type, issuedAt: now }));
    for (const rec of old) {
      await store.redis.hset(store.keys.token(directory, rec.digest), {
        digest: rec.digest, type: rec.type, issuer: rec.issuer, subject: rec.subject, kind: rec.kind,
        issuedAt: String(rec.issuedAt), expiresAt: String(rec.expiresAt), family,
      });
      await store.redis.sadd(store.keys.family(directory, family), rec.digest);
      await store.redis.zadd(store.keys.subject(directory, 'old-user'), rec.issuedAt, rec.digest);
    }
    expect(await store.getToken(old[0]!.digest)).toStrictEqual(old[0]);
    const fresh = record({ subject: 'old-user' });
    await store.putToken(fresh);
    expect((await store.listTokens({ subject: 'old-user', limit: 10 })).map((r) => r.digest).sort()).toEqual([...old, fresh].map((r) => r.digest).sort());
    expect(await store.rotateToken(old[1]!.digest, now, 'sealed')).toBe(true);
    expect(await store.revokeFamily(family, now)).toEqual([old[0]!.digest]);
    expect(await store.revokeTokens([fresh.digest], now)).toBe(1);
    expect((await store.getToken(fresh.digest))?.revokedAt).toBe(now);
  });

  it('the inventory\'s keys share one slot of their own, apart from the tokens\'', async () => {
    const store = await connect();
    await flush(store);
    await store.recordInventory(Array.from({ length: 30 }, (_, i) => sighting({ subject: `client-${i}`, scheme: i % 2 === 0 ? 'basic' : 'digest' })));
    const keysOn = await Promise.all(masters(store).map((m) => m.keys('*')));
    expect(keysOn.filter((ks) => ks.some((k) => k.startsWith('{tg:inv}'))).length).toBe(1);
    expect(keysOn.flat().filter((k) => !k.startsWith('{tg:inv}'))).toEqual([]);
    expect(Object.fromEntries(await store.countInventoryClients(0))).toEqual({ basic: 15, digest: 15 });
  });

  it('store check: an ok cluster, each master\'s persistence read, waitReplicas 1 met', async () => {
    const r = await checkRedisStore({ url: cluster.url, redis: { waitReplicas: 1 } }, {});
    expect(r).toMatchObject({ ok: true, mode: 'cluster', topology: { masterReachable: true, replicas: 3 }, durability: { waitReplicas: 1, ok: true } });
    expect(r.persistence).toHaveLength(3);
  });

  it('the topology probe sees an ok cluster of three masters with a replica each', async () => {
    const store = await connect();
    const t = await new RedisTopologyProbe(store).topology();
    expect(t).toMatchObject({ mode: 'cluster', masterReachable: true, replicas: 3, failovers: 0 });
    expect(t.master?.split(',')).toHaveLength(3);
  });
});

describe('Redis Cluster: a master fails', () => {
  it('its replica takes over: writes fail only meanwhile (503), every acknowledged token survives, events flow again', async () => {
    const a = await connect();
    const b = await connect();
    // The slot of the contract records' subject, where every token below goes.
    const slot = await slotOf(a.keys.subjectTag(record().subject));
    const ownerPort = (): number | undefined => {
      for (const line of lastNodes.split('\n')) {
        const f = line.split(' ');
        if (!f[2]?.includes('master') || f[2].includes('fail')) continue;
        for (const range of f.slice(8)) {
          const [lo, hi] = range.split('-').map(Number);
          if (lo !== undefined && slot >= lo && slot <= (hi ?? lo)) return Number(f[1]!.split(':')[1]!.split('@')[0]);
        }
      }
      return undefined;
    };
    let lastNodes = await cluster.nodes[0]!.command('CLUSTER NODES');
    const owner = cluster.nodes.find((n) => n.port === ownerPort())!;
    expect(owner).toBeDefined();
    const written: string[] = [];
    let failures = 0;
    let stop = false;
    const load = (async () => {
      while (!stop) {
        const rec = record();
        try {
          await a.putToken(rec);
          written.push(rec.digest);
        } catch (err) {
          expect(err).toMatchObject({ code: 'TG_ERR_STORE_UNAVAILABLE', status: 503 });
          failures++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    const killedAt = Date.now();
    await owner.kill();
    const other = cluster.nodes.find((n) => n !== owner)!;
    const promoted = await waitFor(async () => {
      lastNodes = await other.command('CLUSTER NODES').catch(() => lastNodes);
      const p = ownerPort();
      return p !== undefined && p !== owner.port;
    }, 20_000, 100);
    expect(promoted).toBe(true);
    const before = written.length;
    expect(await waitFor(() => written.length >= before + 20, 20_000, 50)).toBe(true);
    stop = true;
    await load;
    // eslint-disable-next-line no-console
    console.log(`cluster master failure: writes back ${Date.now() - killedAt} ms after the kill; ${written.length} written, ${failures} failed`);
    const missing = (await Promise.all(written.map((d) => b.getToken(d)))).filter((r) => r === undefined).length;
    // No WAIT here: a write the dead master had not replicated may be lost (reported; usually none on one host).
    expect(missing).toBeLessThanOrEqual(5);
    // Revocations still reach the other instance (its subscriber may have been on the dead node and moved on).
    const seen: StoreEvent[] = [];
    b.subscribe((e) => seen.push(e));
    const rec = record();
    await a.putToken(rec);
    expect(await waitFor(async () => {
      await a.revokeTokens([rec.digest], Date.now());
      return seen.some((e) => e.type === 'revoked' && e.digests.includes(rec.digest));
    }, 15_000, 500)).toBe(true);
    await owner.start();
  }, 90_000);
});
