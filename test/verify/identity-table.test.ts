/**
 * The validation cache's off-heap storage: identities survive the round trip field for field, LRU order and
 * bounds hold, hash chains survive deletes, and a long random run agrees with a plain Map-based LRU.
 */
import { describe, expect, it } from 'vitest';
import { IdentityTable, MAX_KEY_LENGTH, ROW_BYTES, type Admission, type Verdict } from '../../src/verify/identity-table.js';
import { TrackgateError } from '../../src/errors.js';
import type { Identity } from '../../src/identity/identity.js';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { CredentialDigester } from '../../src/verify/cache-key.js';

const FOREVER = Number.MAX_SAFE_INTEGER;

/** A table with plain LRU admission (what most tests here pin down), or with `admission` as given. */
function table(maxEntries = 100, maxBytes = 1 << 20, maxNegativeEntries = maxEntries, admission: Admission = 'lru'):
  { t: IdentityTable; evicted: () => number; evictedNegatives: () => number; refused: () => number } {
  let n = 0;
  let negatives = 0;
  let refused = 0;
  const t = new IdentityTable({
    maxEntries, maxNegativeEntries, maxBytes, admission,
    onEvict: (segment) => { n++; if (segment === 'negative') negatives++; },
    onRefuse: () => { refused++; },
  });
  return { t, evicted: () => n, evictedNegatives: () => negatives, refused: () => refused };
}

const id = (extra: Partial<Identity> = {}): Identity => Object.freeze({ subject: 'u', scheme: 'basic', kind: 'user' as const, ...extra });

describe('IdentityTable', () => {
  it('gives back every field of an identity, frozen, and a rejection as the same error', () => {
    const { t } = table();
    const digest = lookupDigest('a-session-token');
    const full = id({ subject: 'dev-Ünïcode-42', scheme: 'session-token', kind: 'device', account: 'acme', instance: 'fleet-7', expiresAt: 1_764_000_000_123, tokenDigest: digest });
    const bare = id({ subject: '' });
    const other = id({ tokenDigest: 'not-a-store-digest' });
    const err = new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid credentials', { reason: 'invalid' });
    t.set('full', full, FOREVER);
    t.set('bare', bare, FOREVER);
    t.set('other', other, FOREVER);
    t.set('neg', err, FOREVER);
    const got = t.get('full', 0) as Identity;
    expect(got).toEqual(full);
    expect(got.tokenDigest).toBe(digest);
    expect(Object.isFrozen(got)).toBe(true);
    expect(t.get('bare', 0)).toMatchObject({ subject: '', scheme: 'basic', kind: 'user', account: undefined, instance: undefined, expiresAt: undefined, tokenDigest: undefined });
    expect((t.get('other', 0) as Identity).tokenDigest).toBe('not-a-store-digest');
    expect(t.get('neg', 0)).toBe(err);
    expect(t.get('missing', 0)).toBeUndefined();
  });

  it('drops an entry at its deadline, on the clock it is given', () => {
    const { t, evicted } = table();
    t.set('k', id(), 1000);
    expect(t.get('k', 999)).toBeDefined();
    expect(t.get('k', 1000)).toBeUndefined();
    expect(t.size).toBe(0);
    expect(t.bytes).toBe(0);
    expect(evicted()).toBe(0); // expiry is not an eviction
  });

  it('evicts the least recently used; a hit makes an entry recent', () => {
    const { t, evicted } = table(3);
    for (const k of ['a', 'b', 'c']) t.set(k, id({ subject: k }), FOREVER);
    t.get('a', 0); // b is now the least recently used
    t.set('d', id({ subject: 'd' }), FOREVER);
    expect(t.get('b', 0)).toBeUndefined();
    expect(['a', 'c', 'd'].map((k) => (t.get(k, 0) as Identity).subject)).toEqual(['a', 'c', 'd']);
    expect(evicted()).toBe(1);
    expect(t.size).toBe(3);
  });

  it('a rejection evicts only older rejections: identities survive 10,000 distinct rejections', () => {
    const { t, evicted, evictedNegatives } = table(8, 1 << 20, 4);
    for (let i = 0; i < 8; i++) t.set(`user-${i}`, id({ subject: `user-${i}` }), FOREVER);
    for (let i = 0; i < 10_000; i++) {
      t.set(`random-${i}`, new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'no', { reason: 'invalid' }), FOREVER);
      expect(t.negativeSize).toBeLessThanOrEqual(4);
    }
    for (let i = 0; i < 8; i++) expect((t.get(`user-${i}`, 0) as Identity).subject).toBe(`user-${i}`);
    // The newest rejections are the ones kept, in LRU order within their own segment.
    expect(['random-9996', 'random-9997', 'random-9998', 'random-9999'].every((k) => t.get(k, 0) instanceof TrackgateError)).toBe(true);
    expect(t.get('random-9995', 0)).toBeUndefined();
    expect([t.size, t.negativeSize]).toEqual([12, 4]);
    expect([evicted(), evictedNegatives()]).toEqual([10_000 - 4, 10_000 - 4]);
  });

  it('under the bytes bound, a rejection is not stored rather than evict an identity; an identity evicts rejections first', () => {
    // Room for exactly 3 entries of either kind, whatever the counts allow.
    const err = (): TrackgateError => new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'no', { reason: 'invalid' });
    const negBytes = ROW_BYTES + 400;
    const { t, evictedNegatives } = table(100, 3 * negBytes, 100);
    const big = (s: string): Identity => id({ subject: s.padEnd((negBytes - ROW_BYTES - 16) / 2, '.') }); // as large as a rejection
    for (const k of ['a', 'b', 'c']) t.set(k, big(k), FOREVER);
    t.set('neg', err(), FOREVER);
    expect(t.get('neg', 0)).toBeUndefined();
    expect(['a', 'b', 'c'].every((k) => t.get(k, 0) !== undefined)).toBe(true);
    t.delete('c');
    t.set('neg1', err(), FOREVER);
    expect(t.get('neg1', 0)).toBeInstanceOf(TrackgateError);
    t.set('d', big('d'), FOREVER);
    expect(t.get('neg1', 0)).toBeUndefined(); // the rejection went, not the older identities
    expect(['a', 'b', 'd'].every((k) => t.get(k, 0) !== undefined)).toBe(true);
    expect(evictedNegatives()).toBe(1);
  });

  it('reserves rows per segment; maxNegativeEntries 0 keeps no rejection', () => {
    const { t } = table(10, 1 << 20, 0);
    expect([t.capacity, t.negativeCapacity]).toEqual([10, 0]);
    t.set('neg', new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'no', { reason: 'invalid' }), FOREVER);
    expect(t.get('neg', 0)).toBeUndefined();
    expect(t.size).toBe(0);
    // A small maxBytes caps the rejection rows too: (136 B row + 400 B rejection) each.
    expect(table(10, 64 * 1024, 1_000_000).t.negativeCapacity).toBe(Math.floor((64 * 1024) / (ROW_BYTES + 400)));
  });

  it('frequency admission: one-off identities rarely displace regulars in use (< 1 % of their uses); rejections are not subject to it', () => {
    // 16 regulars in 20 rows: a full cache with some room besides its working set, as a cache sized for it has.
    const { t, refused } = table(20, 1 << 20, 4, 'frequency');
    const regulars = Array.from({ length: 16 }, (_, i) => `regular-${i}`);
    for (const k of regulars) { t.set(k, id({ subject: k }), FOREVER); t.get(k, 0); }
    let uses = 0;
    let missing = 0;
    for (let i = 0; i < 4000; i++) {
      t.set(`once-${i}`, id({ subject: `once-${i}` }), FOREVER);
      // The regulars keep being used (about 7 times per 10 × capacity uses) while 200× the capacity in one-offs
      // stream in; one found missing is verified and stored again, as the cache would.
      if (i % 8 === 7) {
        for (const k of regulars) {
          uses++;
          if (t.get(k, 0) === undefined) { missing++; t.set(k, id({ subject: k }), FOREVER); }
        }
      }
    }
    // A one-off gets in only when its four counters all share a slot with regulars' (the sketch's overestimate).
    expect(missing / uses).toBeLessThan(0.01);
    expect(refused()).toBeGreaterThan(4000 * 0.5);
    t.set('neg', new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'no', { reason: 'invalid' }), FOREVER);
    expect(t.get('neg', 0)).toBeInstanceOf(TrackgateError);
  });

  it('frequency admission: a newcomer gets in once used more often than the least recently used entry', () => {
    const { t, evicted, refused } = table(2, 1 << 20, 2, 'frequency');
    for (const k of ['a', 'b']) { t.set(k, id({ subject: k }), FOREVER); t.get(k, 0); } // two uses each
    // Each verification of the newcomer counts as a use (its lookups missed): two uses tie with 'a', which has
    // been hit since it was stored, and lose; the third wins.
    for (let n = 0; n < 2; n++) { t.set('new', id({ subject: 'new' }), FOREVER); expect(t.get('new', 0)).toBeUndefined(); }
    t.set('new', id({ subject: 'new' }), FOREVER);
    expect((t.get('new', 0) as Identity).subject).toBe('new');
    expect(t.get('a', 0)).toBeUndefined();
    expect((t.get('b', 0) as Identity).subject).toBe('b');
    expect([refused(), evicted()]).toEqual([2, 1]);
  });

  it('frequency admission: an entry never hit since stored loses a tie, so it cannot lock a credential in use out', () => {
    const { t, refused } = table(1, 1 << 20, 1, 'frequency');
    t.set('stored-once', id({ subject: 'stored-once' }), FOREVER);
    t.set('new', id({ subject: 'new' }), FOREVER); // one use each: the newcomer wins the tie
    expect((t.get('new', 0) as Identity).subject).toBe('new');
    t.set('next', id({ subject: 'next' }), FOREVER); // 'new' has been hit since: two uses against one
    expect(t.get('next', 0)).toBeUndefined();
    expect(refused()).toBe(1);
  });

  it('replacing a key is not an eviction and keeps one entry', () => {
    const { t, evicted } = table(2);
    t.set('a', id({ subject: 'old' }), FOREVER);
    t.set('a', id({ subject: 'new' }), FOREVER);
    expect(t.size).toBe(1);
    expect((t.get('a', 0) as Identity).subject).toBe('new');
    expect(evicted()).toBe(0);
  });

  it('stays within maxBytes, counting subject lengths, and reserves no more rows than maxBytes can hold', () => {
    const maxBytes = 64 * 1024;
    const { t } = table(1_000_000, maxBytes);
    // docs/config.md (cache.maxBytes) says rows reserved = maxBytes / 152 B: a row and an empty subject string.
    expect(ROW_BYTES + 16).toBe(152);
    expect(t.capacity).toBe(Math.floor(maxBytes / 152));
    for (let i = 0; i < 5000; i++) {
      t.set(`k${i}`, id({ subject: 'x'.repeat(i % 200) }), FOREVER);
      expect(t.bytes).toBeLessThanOrEqual(maxBytes);
    }
    expect(t.size).toBeGreaterThan(50);
    // An entry bigger than the whole bound is not stored (and evicts nothing for it).
    const before = t.size;
    t.set('huge', id({ subject: 'y'.repeat(maxBytes) }), FOREVER);
    expect(t.get('huge', 0)).toBeUndefined();
    expect(t.size).toBe(before);
  });

  it('deleteTokenDigests removes exactly the identities of those tokens (store digests and others), never rejections', () => {
    const { t } = table();
    const d1 = lookupDigest('token-1');
    // Same first 32 bits as d1 but a different digest: must survive (the lookup goes by the first 4 bytes).
    const near = `${d1.slice(0, 15)}${d1.slice(15).replace(/./g, (c) => (c === '0' ? '1' : '0'))}`;
    t.set('t1', id({ tokenDigest: d1 }), FOREVER);
    t.set('t1b', id({ subject: 'v', tokenDigest: d1 }), FOREVER);
    t.set('near', id({ tokenDigest: near }), FOREVER);
    t.set('t2', id({ tokenDigest: lookupDigest('token-2') }), FOREVER);
    t.set('odd', id({ tokenDigest: 'opaque-digest' }), FOREVER);
    t.set('plain', id(), FOREVER);
    t.set('neg', new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'no', { reason: 'invalid' }), FOREVER);
    expect(t.deleteTokenDigests(new Set([d1, 'opaque-digest', lookupDigest('never-cached')]))).toBe(3);
    expect(['t1', 't1b', 'odd'].map((k) => t.get(k, 0))).toEqual([undefined, undefined, undefined]);
    expect(['near', 't2', 'plain', 'neg'].every((k) => t.get(k, 0) !== undefined)).toBe(true);
    expect(t.size).toBe(4);
    expect(t.deleteTokenDigests(new Set())).toBe(0);
  });

  it('keeps hash chains whole when entries in the middle of a chain go (16 rows, 16 buckets, 40 keys)', () => {
    const { t } = table(16);
    const live = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const k = `key-${i}`;
      t.set(k, id({ subject: k }), FOREVER);
      live.add(k);
      if (live.size > 16) live.delete([...live][0]!);
      if (i % 3 === 0) { const victim = [...live][Math.floor(live.size / 2)]!; expect(t.delete(victim)).toBe(true); live.delete(victim); }
      for (const k2 of live) expect((t.get(k2, 0) as Identity | undefined)?.subject).toBe(k2);
    }
  });

  it('clear empties everything and the table fills again', () => {
    const { t } = table(4);
    for (const k of ['a', 'b', 'c', 'd']) t.set(k, id({ subject: k, account: k }), FOREVER);
    t.clear();
    expect([t.size, t.bytes]).toEqual([0, 0]);
    expect(t.get('a', 0)).toBeUndefined();
    for (const k of ['e', 'f', 'g', 'h', 'i']) t.set(k, id({ subject: k, account: `acct-${k}` }), FOREVER);
    expect(t.size).toBe(4);
    expect(t.get('i', 0)).toMatchObject({ subject: 'i', account: 'acct-i' });
  });

  it('refuses keys it cannot hold, and never finds them', () => {
    const { t } = table();
    expect(() => t.set('k'.repeat(MAX_KEY_LENGTH + 1), id(), FOREVER)).toThrow(TypeError);
    expect(() => t.set('ключ', id(), FOREVER)).toThrow(TypeError);
    expect(t.get('k'.repeat(MAX_KEY_LENGTH + 1), 0)).toBeUndefined();
    expect(t.delete('k'.repeat(MAX_KEY_LENGTH + 1))).toBe(false);
    // The digester's keys fit.
    const key = new CredentialDigester(Buffer.alloc(32, 1)).digest('basic', ['user', 'password']);
    t.set(key, id(), FOREVER);
    expect(t.get(key, 0)).toBeDefined();
  });

  it('agrees with two Map-based LRUs (identities, rejections) over 200,000 random operations', () => {
    // The reference: one Map per segment in recency order (delete + set moves a key to the most recent end).
    const caps = [64, 16] as const;
    const refs = [new Map<string, { v: Verdict; deadline: number }>(), new Map<string, { v: Verdict; deadline: number }>()] as const;
    const { t, evicted, evictedNegatives } = table(caps[0], 1 << 20, caps[1]);
    const refEvictions = [0, 0];
    let seed = 12345;
    const rnd = (n: number): number => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
    const accounts = ['a', 'b', undefined];
    const err = new TrackgateError('TG_ERR_EXPIRED_CREDENTIALS', 'expired', { reason: 'expired' });
    const size = (): number => refs[0].size + refs[1].size;
    let now = 0;
    for (let i = 0; i < 200_000; i++) {
      const key = `k${rnd(160)}`;
      const op = rnd(10);
      now += rnd(3);
      if (op < 5) {
        const ref = refs.find((r) => r.has(key));
        const want = ref?.get(key);
        let expect_: Verdict | undefined;
        if (want !== undefined && want.deadline > now) { ref!.delete(key); ref!.set(key, want); expect_ = want.v; } else if (want !== undefined) ref!.delete(key);
        const got = t.get(key, now);
        expect(got).toEqual(expect_);
      } else if (op < 9) {
        const v: Verdict = rnd(4) === 0 ? err : id({ subject: `s${rnd(1000)}`, account: accounts[rnd(3)], expiresAt: rnd(2) === 0 ? undefined : now + 5000, tokenDigest: rnd(2) === 0 ? lookupDigest(key) : undefined });
        const seg = v instanceof TrackgateError ? 1 : 0;
        const ref = refs[seg];
        const deadline = now + 1 + rnd(400);
        refs[0].delete(key);
        refs[1].delete(key);
        if (ref.size >= caps[seg]) { ref.delete(ref.keys().next().value!); refEvictions[seg]!++; }
        ref.set(key, { v, deadline });
        t.set(key, v, deadline);
      } else if (op === 9 && rnd(50) === 0) {
        // A revocation: every entry whose identity carries this key's token digest.
        const digest = lookupDigest(key);
        let n = 0;
        for (const [k, e] of refs[0]) if (!(e.v instanceof TrackgateError) && e.v.tokenDigest === digest) { refs[0].delete(k); n++; }
        expect(t.deleteTokenDigests(new Set([digest]))).toBe(n);
      } else {
        expect(t.delete(key)).toBe(refs[0].delete(key) || refs[1].delete(key));
      }
      // Compared by hand, and asserted only when they differ: 200,000 expect() calls cost seconds.
      if (t.size !== size() || t.negativeSize !== refs[1].size) expect([i, t.size, t.negativeSize]).toEqual([i, size(), refs[1].size]);
    }
    expect(evicted() - evictedNegatives()).toBe(refEvictions[0]);
    expect(evictedNegatives()).toBe(refEvictions[1]);
    expect(refEvictions[0]).toBeGreaterThan(1000);
    expect(refEvictions[1]).toBeGreaterThan(1000);
  }, 60_000);
});
