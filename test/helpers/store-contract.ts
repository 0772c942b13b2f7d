/**
 * The `Store` contract, one suite run against every engine (test/store/sqlite.test.ts,
 * test/e2e/redis/store.test.ts). Each test gets a fresh, empty store from `open`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store, StoreEvent, StoredUser, TokenRecord } from '../../src/store/types.js';

export interface OpenedStore {
  store: Store;
  /** Closes the store and removes what it left behind. */
  cleanup(): Promise<void>;
}

export function digest(): string {
  return randomBytes(32).toString('base64url');
}

export function record(over: Partial<TokenRecord> = {}): TokenRecord {
  const now = Date.now();
  return {
    digest: digest(), type: 'session', issuer: 'gps_rest_v2', subject: 'j.random.user', kind: 'user',
    issuedAt: now, expiresAt: now + 3_600_000, ...over,
  };
}

export function user(over: Partial<StoredUser> = {}): StoredUser {
  const id = randomUUID();
  return { id, username: `user-${id}`, app: 'demo-app', anonymous: false, displayName: 'A User', createdAt: Date.now(), ...over };
}

export function storeContract(engine: string, open: () => Promise<OpenedStore>): void {
  describe(`Store contract: ${engine}`, () => {
    let opened: OpenedStore;
    let store: Store;
    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(async () => { await opened.cleanup(); });

    it('names its engine and answers ping', async () => {
      expect(store.engine).toBe(engine);
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('round-trips a record with every field, and one with none of the optional ones', async () => {
      const full = record({
        type: 'refresh', issuer: 'oauth2_password', kind: 'device', account: 'acct-1', instance: 'inst-1', family: randomUUID(),
        revokedAt: Date.now() - 5, rotated: 'c2VhbGVk', data: { accessTtlSeconds: 60, nested: { a: [1, 'two', null] }, unicode: 'ü€' },
      });
      const bare = record();
      await store.putToken(full);
      await store.putToken(bare);
      expect(await store.getToken(full.digest)).toStrictEqual(full);
      // No `undefined` keys: absent fields are absent.
      expect(await store.getToken(bare.digest)).toStrictEqual(bare);
      expect(await store.getToken(digest())).toBeUndefined();
    });

    it('putToken replaces the record of the same digest whole', async () => {
      const rec = record({ account: 'a', revokedAt: Date.now() });
      await store.putToken(rec);
      const { account: _a, revokedAt: _r, ...rest } = rec;
      const replaced = { ...rest, kind: 'app' };
      await store.putToken(replaced);
      expect(await store.getToken(rec.digest)).toStrictEqual(replaced);
    });

    it('keeps a record that has just expired (callers tell expired from unknown)', async () => {
      const rec = record({ issuedAt: Date.now() - 10_000, expiresAt: Date.now() - 1000 });
      await store.putToken(rec);
      expect(await store.getToken(rec.digest)).toStrictEqual(rec);
    });

    it('revokeTokens marks live tokens, counts them, and emits one revoked event with every digest', async () => {
      const events: StoreEvent[] = [];
      const unsubscribe = store.subscribe((e) => events.push(e));
      const a = record();
      const b = record();
      const already = record({ revokedAt: 1000 });
      for (const r of [a, b, already]) await store.putToken(r);
      const unknown = digest();
      const at = Date.now();
      expect(await store.revokeTokens([a.digest, b.digest, already.digest, unknown], at)).toBe(2);
      // Delivered by the time revokeTokens resolves (the local validation cache is evicted before the caller goes on).
      expect(events).toContainEqual({ type: 'revoked', digests: [a.digest, b.digest, already.digest, unknown] });
      expect((await store.getToken(a.digest))?.revokedAt).toBe(at);
      expect((await store.getToken(already.digest))?.revokedAt).toBe(1000);
      expect(await store.getToken(unknown)).toBeUndefined();
      expect(await store.revokeTokens([a.digest], at + 1)).toBe(0);
      expect((await store.getToken(a.digest))?.revokedAt).toBe(at);
      unsubscribe();
      const seen = events.length;
      // The local delivery happens before revokeTokens resolves (above): nothing to wait for.
      await store.revokeTokens([b.digest], at);
      expect(events.length).toBe(seen);
    });

    it('rotateToken spends a live token once, keeping the sealed pair', async () => {
      const rec = record({ type: 'refresh', family: randomUUID() });
      await store.putToken(rec);
      const at = Date.now();
      expect(await store.rotateToken(rec.digest, at, 'pair-1')).toBe(true);
      expect(await store.rotateToken(rec.digest, at + 1, 'pair-2')).toBe(false);
      expect(await store.getToken(rec.digest)).toStrictEqual({ ...rec, revokedAt: at, rotated: 'pair-1' });
      expect(await store.rotateToken(digest(), at, 'x')).toBe(false);
      const revoked = record({ type: 'refresh', revokedAt: at });
      await store.putToken(revoked);
      expect(await store.rotateToken(revoked.digest, at, 'x')).toBe(false);
      expect((await store.getToken(revoked.digest))?.rotated).toBeUndefined();
    });

    it('rotateToken under contention: of 20 concurrent callers exactly one wins, and its pair is kept', async () => {
      const rec = record({ type: 'refresh', family: randomUUID() });
      await store.putToken(rec);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.rotateToken(rec.digest, Date.now(), `pair-${i}`)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await store.getToken(rec.digest))?.rotated).toBe(`pair-${results.indexOf(true)}`);
    });

    it('revokeFamily revokes the live members only, returns and emits their digests, leaves others alone', async () => {
      const family = randomUUID();
      const live1 = record({ type: 'access', family });
      const live2 = record({ type: 'refresh', family });
      const spent = record({ type: 'refresh', family, revokedAt: 1000, rotated: 'p' });
      const otherFamily = record({ type: 'access', family: randomUUID() });
      const noFamily = record();
      for (const r of [live1, live2, spent, otherFamily, noFamily]) await store.putToken(r);
      const events: StoreEvent[] = [];
      store.subscribe((e) => events.push(e));
      const at = Date.now();
      const revoked = await store.revokeFamily(family, at);
      expect([...revoked].sort()).toEqual([live1.digest, live2.digest].sort());
      // An engine may deliver an event more than once (eviction is idempotent); never a different one.
      const distinct = () => [...new Set(events.map((e) => JSON.stringify(e)))].map((j) => JSON.parse(j) as StoreEvent);
      expect(distinct()).toHaveLength(1);
      const e = distinct()[0]!;
      expect(e.type === 'revoked' ? [...e.digests].sort() : e).toEqual([live1.digest, live2.digest].sort());
      expect((await store.getToken(live1.digest))?.revokedAt).toBe(at);
      expect((await store.getToken(live2.digest))?.revokedAt).toBe(at);
      expect(await store.getToken(spent.digest)).toStrictEqual(spent);
      expect((await store.getToken(otherFamily.digest))?.revokedAt).toBeUndefined();
      expect((await store.getToken(noFamily.digest))?.revokedAt).toBeUndefined();
      // Nothing left to revoke: no digests, no event.
      expect(await store.revokeFamily(family, at + 1)).toEqual([]);
      expect(await store.revokeFamily(randomUUID(), at)).toEqual([]);
      expect(distinct()).toHaveLength(1);
    });

    it('listTokens: a subject\'s tokens newest first, up to the limit; without a subject every token', async () => {
      const subject = `user-${randomUUID()}`;
      const base = Date.now();
      const mine = Array.from({ length: 5 }, (_, i) => record({ subject, issuedAt: base + i * 10, expiresAt: base + 3_600_000 }));
      const theirs = record({ subject: `other-${randomUUID()}`, issuedAt: base + 1000 });
      for (const r of [...mine, theirs]) await store.putToken(r);
      const newestFirst = [...mine].reverse();
      expect(await store.listTokens({ subject, limit: 10 })).toStrictEqual(newestFirst);
      expect(await store.listTokens({ subject, limit: 2 })).toStrictEqual(newestFirst.slice(0, 2));
      expect(await store.listTokens({ subject: `nobody-${randomUUID()}`, limit: 10 })).toEqual([]);
      const all = await store.listTokens({ limit: 100 });
      expect(all).toHaveLength(6);
      expect(all[0]).toStrictEqual(theirs);
      expect(all.map((r) => r.issuedAt)).toEqual([...all.map((r) => r.issuedAt)].sort((x, y) => y - x));
      expect(await store.listTokens({ limit: 3 })).toStrictEqual(all.slice(0, 3));
    });

    it('purgeExpired keeps live tokens', async () => {
      const live = record();
      await store.putToken(live);
      const n = await store.purgeExpired(Date.now());
      expect(Number.isInteger(n) && n >= 0).toBe(true);
      expect(await store.getToken(live.digest)).toStrictEqual(live);
    });

    it('createUser stores a user, found by id, username and (app, key); absent fields stay absent', async () => {
      const full = user({ password: '$scrypt$x', email: 'a@example.com', key: 'k-1', extra: { plan: 'gold', n: [1, 2] }, displayName: 'Zoë' });
      const anon = user({ username: `_${randomUUID()}`, anonymous: true });
      expect(await store.createUser(full)).toBe('created');
      expect(await store.createUser(anon)).toBe('created');
      expect(await store.getUser(full.id)).toStrictEqual(full);
      expect(await store.getUserByUsername(full.username)).toStrictEqual(full);
      expect(await store.getUserByKey(full.app, 'k-1')).toStrictEqual(full);
      expect(await store.getUser(anon.id)).toStrictEqual(anon);
      expect(await store.getUser(randomUUID())).toBeUndefined();
      expect(await store.getUserByUsername('nobody')).toBeUndefined();
      expect(await store.getUserByKey(full.app, 'k-2')).toBeUndefined();
      expect(await store.getUserByKey('other-app', 'k-1')).toBeUndefined();
    });

    it('createUser refuses a taken username, (app, key) or id, checking in that order, and writes nothing', async () => {
      const first = user({ key: 'dup-key' });
      expect(await store.createUser(first)).toBe('created');
      expect(await store.createUser(user({ username: first.username, key: 'dup-key', id: first.id }))).toBe('duplicate_username');
      expect(await store.createUser(user({ key: 'dup-key', id: first.id }))).toBe('duplicate_key');
      expect(await store.createUser(user({ id: first.id }))).toBe('duplicate_id');
      const refused = user({ key: 'dup-key' });
      expect(await store.createUser(refused)).toBe('duplicate_key');
      expect(await store.getUserByUsername(refused.username)).toBeUndefined();
      expect(await store.getUser(refused.id)).toBeUndefined();
      // Keys are unique per application only.
      expect(await store.createUser(user({ key: 'dup-key', app: 'another-app' }))).toBe('created');
      expect((await store.getUserByKey(first.app, 'dup-key'))?.id).toBe(first.id);
    });

    it('createUser under contention: of 10 concurrent creations of one username exactly one succeeds', async () => {
      const username = `race-${randomUUID()}`;
      const results = await Promise.all(Array.from({ length: 10 }, () => store.createUser(user({ username }))));
      expect(results.filter((r) => r === 'created')).toHaveLength(1);
      expect(results.filter((r) => r === 'duplicate_username')).toHaveLength(9);
    });

    it('deleteUser frees its username and key, revokes its live tokens (one event), and leaves others\' alone', async () => {
      const u = user({ key: 'del-key' });
      expect(await store.createUser(u)).toBe('created');
      const mine = [record({ subject: u.id, issuer: 'geoloqi' }), record({ subject: u.id, issuer: 'geoloqi' })];
      const spent = record({ subject: u.id, revokedAt: Date.now() - 10 });
      const other = record({ subject: 'someone-else' });
      for (const r of [...mine, spent, other]) await store.putToken(r);
      const events: StoreEvent[] = [];
      const off = store.subscribe((e) => events.push(e));
      const at = Date.now();
      const digests = await store.deleteUser(u.id, at);
      off();
      expect(digests?.sort()).toEqual(mine.map((r) => r.digest).sort());
      expect(events.filter((e) => e.type === 'revoked').flatMap((e) => e.type === 'revoked' ? e.digests : []).sort()).toEqual(digests);
      for (const r of mine) expect((await store.getToken(r.digest))?.revokedAt).toBe(at);
      expect((await store.getToken(spent.digest))?.revokedAt).toBe(spent.revokedAt);
      expect((await store.getToken(other.digest))?.revokedAt).toBeUndefined();
      expect(await store.getUser(u.id)).toBeUndefined();
      expect(await store.getUserByUsername(u.username)).toBeUndefined();
      expect(await store.getUserByKey(u.app, 'del-key')).toBeUndefined();
      expect(await store.deleteUser(u.id, at)).toBeUndefined();
      // The username and key are free again.
      expect(await store.createUser(user({ username: u.username, key: 'del-key' }))).toBe('created');
    });

    it('close() is idempotent', async () => {
      await store.close();
      await store.close();
    });
  });
}
