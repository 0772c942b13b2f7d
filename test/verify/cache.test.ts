/**
 * The validation cache (the real class, on real time or an injected clock) and the
 * keyed digests it is indexed by; plus, through a real trackgate, that a flood of one wrong Basic password
 * costs one password hash per negative-TTL window.
 */
import { describe, expect, it } from 'vitest';
import { ValidationCache, type CacheEvent, type ValidationCacheOptions } from '../../src/verify/cache.js';
import { CredentialDigester, fingerprint } from '../../src/verify/cache-key.js';
import { TrackgateError, type AuthReason, type ErrorCode } from '../../src/errors.js';
import type { Identity } from '../../src/identity/identity.js';
import { verifyPassword, hashPassword } from '../../src/accounts/password.js';
import { useGate } from '../helpers/gate.js';
import { metric } from '../helpers/metrics.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';

function cache(opts: Partial<ValidationCacheOptions> = {}): { c: ValidationCache; events: CacheEvent[] } {
  const events: CacheEvent[] = [];
  const c = new ValidationCache({ maxEntries: 100, maxNegativeEntries: 100, maxBytes: 1 << 20, ttlSeconds: 300, negativeTtlSeconds: 5, onEvent: (e) => events.push(e), ...opts });
  return { c, events };
}

function identity(extra: Partial<Identity> = {}): Identity {
  return Object.freeze({ subject: 'u', scheme: 'basic', kind: 'user' as const, ...extra });
}

/** A verify function that counts its calls. */
function counted(fn: () => Promise<Identity>): { verify: () => Promise<Identity>; calls: () => number } {
  let n = 0;
  return { verify: () => { n++; return fn(); }, calls: () => n };
}

const reject = (reason: AuthReason, code: ErrorCode = 'TG_ERR_INVALID_CREDENTIALS') =>
  async (): Promise<Identity> => { throw new TrackgateError(code, 'no', { reason }); };

describe('positive entries', () => {
  it('a miss verifies, the next lookup is a hit', async () => {
    const { c, events } = cache();
    const v = counted(async () => identity());
    expect((await c.getOrVerify('k', v.verify)).outcome).toBe('miss');
    const second = await c.getOrVerify('k', v.verify);
    expect(second.outcome).toBe('hit');
    expect(second.identity.subject).toBe('u');
    expect(v.calls()).toBe(1);
    expect(events).toEqual(['miss', 'hit']);
  });

  it('lives ttlSeconds when the credential has no expiry', async () => {
    let t = 1_000_000;
    const { c } = cache({ ttlSeconds: 0.15, now: () => t });
    const v = counted(async () => identity());
    await c.getOrVerify('k', v.verify);
    t += 149;
    await c.getOrVerify('k', v.verify);
    expect(v.calls()).toBe(1);
    t += 1;
    expect((await c.getOrVerify('k', v.verify)).outcome).toBe('miss');
    expect(v.calls()).toBe(2);
  });

  it('lives min(ttlSeconds, expiresAt - now): a credential expiring sooner leaves sooner', async () => {
    let t = 1_000_000;
    const { c } = cache({ ttlSeconds: 300, now: () => t });
    const v = counted(async () => identity({ expiresAt: t + 150 }));
    await c.getOrVerify('k', v.verify);
    t += 149;
    expect((await c.getOrVerify('k', v.verify)).outcome).toBe('hit');
    t += 1;
    expect((await c.getOrVerify('k', v.verify)).outcome).toBe('miss');
    expect(v.calls()).toBe(2);
  });

  it('measures every deadline on the app clock (ttlSeconds and the credential\'s expiry alike)', async () => {
    let t = 1_000_000;
    const { c } = cache({ ttlSeconds: 300, now: () => t });
    const v = counted(async () => identity());
    await c.getOrVerify('k', v.verify);
    t += 299_999;
    expect((await c.getOrVerify('k', v.verify)).outcome).toBe('hit');
    t += 1;
    expect((await c.getOrVerify('k', v.verify)).outcome).toBe('miss');
    expect(v.calls()).toBe(2);
  });

  it('a ttlSeconds shorter than the credential\'s expiry wins', async () => {
    let t = 1_000_000;
    const { c } = cache({ ttlSeconds: 0.15, now: () => t });
    const v = counted(async () => identity({ expiresAt: t + 3_600_000 }));
    await c.getOrVerify('k', v.verify);
    t += 149;
    expect((await c.getOrVerify('k', v.verify)).outcome).toBe('hit');
    t += 1;
    expect((await c.getOrVerify('k', v.verify)).outcome).toBe('miss');
    expect(v.calls()).toBe(2);
  });

  it('an identity already past its expiry (or expiring within 1 ms) is returned but not cached', async () => {
    const { c } = cache();
    for (const expiresAt of [Date.now() - 1000, Date.now()]) {
      const v = counted(async () => identity({ expiresAt }));
      const key = `k${expiresAt}`;
      expect((await c.getOrVerify(key, v.verify)).outcome).toBe('miss');
      expect((await c.getOrVerify(key, v.verify)).outcome).toBe('miss');
      expect(v.calls()).toBe(2);
    }
    expect(c.size).toBe(0);
  });

  it('ttlSeconds 0 caches nothing', async () => {
    const { c } = cache({ ttlSeconds: 0 });
    const v = counted(async () => identity());
    await c.getOrVerify('k', v.verify);
    await c.getOrVerify('k', v.verify);
    expect(v.calls()).toBe(2);
  });
});

describe('negative entries', () => {
  it.each(['invalid', 'expired'] as const)('reason %s is cached for negativeTtlSeconds only', async (reason) => {
    let t = 1_000_000;
    const { c, events } = cache({ negativeTtlSeconds: 0.15, ttlSeconds: 300, now: () => t });
    const v = counted(reject(reason, reason === 'expired' ? 'TG_ERR_EXPIRED_CREDENTIALS' : 'TG_ERR_INVALID_CREDENTIALS'));
    const first = await c.getOrVerify('k', v.verify).catch((e: unknown) => e);
    t += 149;
    const second = await c.getOrVerify('k', v.verify).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(TrackgateError);
    expect(second).toBe(first);
    expect(v.calls()).toBe(1);
    expect(events).toEqual(['miss', 'negative_hit']);
    t += 1;
    await expect(c.getOrVerify('k', v.verify)).rejects.toBeInstanceOf(TrackgateError);
    expect(v.calls()).toBe(2);
  });

  it.each([
    ['unavailable', 'TG_ERR_SOURCE_UNAVAILABLE'],
    ['throttled', 'TG_ERR_THROTTLED'],
    ['malformed', 'TG_ERR_MALFORMED_CREDENTIALS'],
    ['stale', 'TG_ERR_INVALID_CREDENTIALS'],
  ] as const)('reason %s is never cached', async (reason, code) => {
    const { c, events } = cache();
    const v = counted(reject(reason, code));
    for (let i = 0; i < 3; i++) await expect(c.getOrVerify('k', v.verify)).rejects.toMatchObject({ reason });
    expect(v.calls()).toBe(3);
    expect(c.size).toBe(0);
    expect(events).toEqual(['miss', 'miss', 'miss']);
  });

  it('an error without a reason, or not a TrackgateError, is not cached and the next lookup retries', async () => {
    const { c } = cache();
    const bare = counted(async () => { throw new TrackgateError('TG_ERR_INTERNAL', 'x'); });
    await expect(c.getOrVerify('a', bare.verify)).rejects.toThrow('x');
    await expect(c.getOrVerify('a', bare.verify)).rejects.toThrow('x');
    expect(bare.calls()).toBe(2);
    const bug = counted(async () => { throw new TypeError('bug'); });
    await expect(c.getOrVerify('b', bug.verify)).rejects.toThrow(TypeError);
    await expect(c.getOrVerify('b', bug.verify)).rejects.toThrow(TypeError);
    expect(bug.calls()).toBe(2);
    expect(c.size).toBe(0);
  });

  it.each([{ negativeTtlSeconds: 0 }, { maxNegativeEntries: 0 }])('%o caches no negative (and positives as before)', async (opts) => {
    const { c } = cache(opts);
    const v = counted(reject('invalid'));
    await c.getOrVerify('k', v.verify).catch(() => undefined);
    await c.getOrVerify('k', v.verify).catch(() => undefined);
    expect(v.calls()).toBe(2);
    const ok = counted(async () => identity());
    await c.getOrVerify('good', ok.verify);
    expect((await c.getOrVerify('good', ok.verify)).outcome).toBe('hit');
    expect(c.size).toBe(1);
  });
});

describe('single-flight', () => {
  it('10 concurrent misses on one key call verify once', async () => {
    const { c, events } = cache();
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const v = counted(async () => { await gate; return identity(); });
    const all = Array.from({ length: 10 }, () => c.getOrVerify('k', v.verify));
    // All ten are waiting on the one verification, which cannot finish before the release.
    expect(v.calls()).toBe(1);
    release();
    const results = await Promise.all(all);
    expect(v.calls()).toBe(1);
    expect(results.map((r) => r.outcome).sort()).toEqual(['hit', 'hit', 'hit', 'hit', 'hit', 'hit', 'hit', 'hit', 'hit', 'miss']);
    expect(events.filter((e) => e === 'miss')).toHaveLength(1);
  });

  it('10 concurrent misses that fail share one verification and one error', async () => {
    const { c, events } = cache();
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const v = counted(async () => { await gate; throw new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'no', { reason: 'invalid' }); });
    const all = Array.from({ length: 10 }, () => c.getOrVerify('k', v.verify).catch((e: unknown) => e));
    release();
    const errors = await Promise.all(all);
    expect(v.calls()).toBe(1);
    expect(new Set(errors).size).toBe(1);
    expect(events.filter((e) => e === 'miss')).toHaveLength(1);
    expect(events.filter((e) => e === 'negative_hit')).toHaveLength(9);
  });

  it('different keys verify independently', async () => {
    const { c } = cache();
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const v = counted(async () => { await gate; return identity(); });
    const all = ['a', 'b', 'c'].map((k) => c.getOrVerify(k, v.verify));
    // Three verifications in flight at once, none joined to another's.
    expect(v.calls()).toBe(3);
    release();
    expect((await Promise.all(all)).map((r) => r.outcome)).toEqual(['miss', 'miss', 'miss']);
  });
});

describe('eviction', () => {
  it('deleteTokenDigests evicts exactly the identities carrying a revoked tokenDigest', async () => {
    const { c } = cache();
    const d1 = `sha256:${'ab'.repeat(32)}`; // a store digest (kept as raw bytes); d2 is not one (kept as it is)
    await c.getOrVerify('t1', async () => identity({ subject: 'a', tokenDigest: d1 }));
    await c.getOrVerify('t1b', async () => identity({ subject: 'a', tokenDigest: d1 }));
    await c.getOrVerify('t2', async () => identity({ subject: 'b', tokenDigest: 'd2' }));
    await c.getOrVerify('p', async () => identity({ subject: 'c' }));
    await c.getOrVerify('neg', reject('invalid')).catch(() => undefined);
    expect(c.size).toBe(5);
    expect(c.deleteTokenDigests(new Set([d1]))).toBe(2);
    expect(c.size).toBe(3);
    const fresh = counted(async () => identity());
    expect((await c.getOrVerify('t1', fresh.verify)).outcome).toBe('miss');
    expect((await c.getOrVerify('t2', fresh.verify)).outcome).toBe('hit');
    expect((await c.getOrVerify('p', fresh.verify)).outcome).toBe('hit');
    await expect(c.getOrVerify('neg', fresh.verify)).rejects.toBeInstanceOf(TrackgateError);
    expect(fresh.calls()).toBe(1);
  });

  it('delete and clear evict at once', async () => {
    const { c } = cache();
    await c.getOrVerify('a', async () => identity());
    await c.getOrVerify('b', async () => identity());
    expect(c.delete('a')).toBe(true);
    expect(c.delete('a')).toBe(false);
    c.clear();
    expect(c.size).toBe(0);
    expect(c.bytes).toBe(0);
  });

  it('a verification running when clear() is called does not store its verdict, and later lookups do not join it', async () => {
    const { c } = cache();
    let release!: () => void;
    const slow = new Promise<void>((r) => { release = r; });
    const old = counted(async () => { await slow; return identity({ subject: 'removed-user' }); });
    const before = c.getOrVerify('k', old.verify);
    expect(old.calls()).toBe(1);
    c.clear(); // e.g. a reload removed the user while its password was being checked
    const fresh = counted(async () => { throw new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'no', { reason: 'invalid' }); });
    const after = c.getOrVerify('k', fresh.verify).catch((e: unknown) => e);
    release();
    expect((await before).identity.subject).toBe('removed-user');
    expect(await after).toBeInstanceOf(TrackgateError);
    expect(fresh.calls()).toBe(1);
    // The pre-clear verdict was not stored: the next lookup sees the post-clear negative, not the old identity.
    await expect(c.getOrVerify('k', old.verify)).rejects.toBeInstanceOf(TrackgateError);
    expect(old.calls()).toBe(1);
  });

  it('stays within maxEntries, maxNegativeEntries and maxBytes under a flood of 200k distinct keys', async () => {
    const maxBytes = 256 * 1024;
    const events: CacheEvent[] = [];
    // Plain LRU admission: every new key gets in, the most churn there can be.
    const c = new ValidationCache({ maxEntries: 1000, maxNegativeEntries: 100, maxBytes, admission: 'lru', ttlSeconds: 300, negativeTtlSeconds: 5, onEvent: (e) => { if (e === 'evict' || e === 'negative_evict') events.push(e); } });
    const digester = new CredentialDigester(Buffer.alloc(32, 7));
    const id = identity({ subject: 'flood-user', account: 'acct' });
    const neg = new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'no', { reason: 'invalid' });
    let maxSize = 0;
    let maxCalc = 0;
    let maxNegative = 0;
    for (let i = 0; i < 200_000; i++) {
      const key = digester.digest('basic', [`user${i}`, `pw${i}`]);
      // Mix positive and negative entries, as a credential-stuffing flood would.
      if (i % 3 === 0) await c.getOrVerify(key, async () => { throw neg; }).catch(() => undefined);
      else await c.getOrVerify(key, async () => id);
      if (i % 97 === 0) { maxSize = Math.max(maxSize, c.size); maxCalc = Math.max(maxCalc, c.bytes); maxNegative = Math.max(maxNegative, c.negativeSize); }
    }
    maxSize = Math.max(maxSize, c.size);
    maxCalc = Math.max(maxCalc, c.bytes);
    expect(maxSize).toBeLessThanOrEqual(1000 + 100);
    expect(maxNegative).toBeLessThanOrEqual(100);
    expect(maxCalc).toBeLessThanOrEqual(maxBytes);
    expect(c.size).toBeGreaterThan(100); // still useful, not emptied
    expect(c.evictions).toBeGreaterThan(190_000);
    expect(events.length).toBe(c.evictions);
  }, 60_000);
});

describe('a flood of rejected credentials', () => {
  it('never evicts a valid user: after 50,000 distinct random tokens and wrong passwords (500× maxEntries), every user is a hit', async () => {
    const { c, events } = cache({ maxEntries: 100, maxNegativeEntries: 50 });
    const digester = new CredentialDigester(Buffer.alloc(32, 3));
    const users = Array.from({ length: 80 }, (_, i) => ({ key: digester.digest('basic', [`user${i}`, `right${i}`]), v: counted(async () => identity({ subject: `user${i}` })) }));
    for (const u of users) await c.getOrVerify(u.key, u.v.verify);
    const wrong = counted(reject('invalid'));
    let maxNegative = 0;
    for (let i = 0; i < 50_000; i++) {
      // Random session tokens, and wrong passwords for the real users: both are rejections.
      const key = i % 2 === 0 ? digester.digest('session-token', [`random-${i}`]) : digester.digest('basic', [`user${i % 80}`, `wrong-${i}`]);
      await c.getOrVerify(key, wrong.verify).catch(() => undefined);
      if (i % 1000 === 0) maxNegative = Math.max(maxNegative, c.negativeSize);
    }
    expect(wrong.calls()).toBe(50_000);
    for (const [i, u] of users.entries()) expect((await c.getOrVerify(u.key, u.v.verify)).identity.subject).toBe(`user${i}`);
    // One verification each, before the flood; the lookups after it were hits.
    expect(users.map((u) => u.v.calls())).toEqual(users.map(() => 1));
    expect(maxNegative).toBeLessThanOrEqual(50);
    expect([c.size, c.negativeSize]).toEqual([80 + 50, 50]);
    expect(events.filter((e) => e === 'evict')).toHaveLength(0);
    expect(events.filter((e) => e === 'negative_evict')).toHaveLength(50_000 - 50);
    expect(events.slice(-80).every((e) => e === 'hit')).toBe(true);
  }, 60_000);
});

describe('a flood of one-off valid credentials', () => {
  it.each(['frequency', 'lru'] as const)('admission %s: 20,000 one-off valid tokens among 80 regular users in use', async (admission) => {
    const { c, events } = cache({ maxEntries: 100, admission });
    const users = Array.from({ length: 80 }, (_, i) => ({ key: `user-${i}`, v: counted(async () => identity({ subject: `user${i}` })) }));
    // Regular: each has come back at least once (a credential seen once is as good as a one-off).
    for (let n = 0; n < 2; n++) for (const u of users) await c.getOrVerify(u.key, u.v.verify);
    for (let i = 0; i < 20_000; i++) {
      // Valid tokens minted in a loop (e.g. anonymous users created one after another), each used once...
      await c.getOrVerify(`minted-${i}`, async () => identity({ subject: `anon-${i}`, tokenDigest: `d${i}` }));
      // ...while the regular users keep coming back.
      if (i % 100 === 99) for (const u of users) await c.getOrVerify(u.key, u.v.verify);
    }
    const again = users.reduce((n, u) => n + u.v.calls() - 1, 0);
    if (admission === 'frequency') {
      // The minted tokens were (almost) never kept in the regulars' place: of 16,000 returns, under 1 % verified again.
      expect(again).toBeLessThan(160);
      // Most minted tokens were not kept at all; those that were took the place of an older minted token.
      expect(events.filter((e) => e === 'not_admitted').length).toBeGreaterThan(20_000 * 0.9);
    } else {
      // Plain LRU: every 100 minted tokens pushed every regular out, and each paid a verification again.
      expect(again).toBe(80 * 200);
    }
    expect(c.size).toBe(100);
  }, 60_000);
});

describe('cache keys', () => {
  const d = new CredentialDigester(Buffer.from('0123456789abcdef0123456789abcdef'));

  it('length-prefixes parts: no collision by concatenation', () => {
    expect(d.digest('s', ['ab', 'c'])).not.toBe(d.digest('s', ['a', 'bc']));
    expect(d.digest('s', ['abc'])).not.toBe(d.digest('s', ['ab', 'c']));
    expect(d.digest('s', ['a', ''])).not.toBe(d.digest('s', ['a']));
    expect(d.digest('s', ['1:a'])).not.toBe(d.digest('s', ['a']));
    expect(d.digest('sa', ['b'])).not.toBe(d.digest('s', ['ab']));
    expect(d.digest('basic', ['u', 'p'])).not.toBe(d.digest('digest', ['u', 'p']));
    expect(d.digest('s', ['é'])).not.toBe(d.digest('s', ['e\u0301']));
  });

  it('is deterministic for one secret (replicas agree) and differs between secrets', () => {
    const same = new CredentialDigester(Buffer.from('0123456789abcdef0123456789abcdef'));
    const other = new CredentialDigester(Buffer.from('fedcba9876543210fedcba9876543210'));
    expect(same.digest('basic', [DEMO.user, DEMO.password])).toBe(d.digest('basic', [DEMO.user, DEMO.password]));
    expect(other.digest('basic', [DEMO.user, DEMO.password])).not.toBe(d.digest('basic', [DEMO.user, DEMO.password]));
  });

  it('is an HMAC: no raw part appears in the key or the fingerprint', () => {
    const parts = [DEMO.user, DEMO.password, 'abc', 'SECRET'];
    const key = d.digest('basic', parts);
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/); // base64url SHA-256
    for (const p of parts) {
      expect(key).not.toContain(p);
      expect(key).not.toContain(Buffer.from(p).toString('base64url'));
    }
    expect(fingerprint(key)).toBe(key.slice(0, 16));
    expect(fingerprint(key)).toHaveLength(16);
  });
});

describe('a wrong-password flood through the proxy', () => {
  const gate = useGate({ config: { cache: { negativeTtlSeconds: 30 } } });

  it('50 requests with one wrong password cost one scrypt: 1 miss, 49 negative hits, far faster than 50 hashes', async () => {
    // What one password check costs here, with the demo accounts' parameters.
    const hash = await hashPassword('x');
    const h0 = performance.now();
    for (let i = 0; i < 3; i++) await verifyPassword(hash, 'y');
    const oneHashMs = (performance.now() - h0) / 3;

    const auth = basicAuth(DEMO.user, 'not-the-password');
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${gate.url}/rest/v2/devices`, { headers: { authorization: auth } });
      await res.arrayBuffer();
      expect(res.status).toBe(401);
    }
    const floodMs = performance.now() - t0;

    expect(await metric(gate.adminUrl, 'trackgate_validation_cache_events_total', { event: 'miss' })).toBe(1);
    expect(await metric(gate.adminUrl, 'trackgate_validation_cache_events_total', { event: 'negative_hit' })).toBe(49);
    expect(await metric(gate.adminUrl, 'trackgate_auth_attempts_total', { scheme: 'basic', result: 'failure', reason: 'invalid' })).toBe(50);
    // Had each request been hashed, the flood would take at least 50 hashes; it takes well under half that.
    // (The metrics above are the exact proof; this bound is loose so a loaded machine does not flake it.)
    expect(floodMs, `flood ${floodMs.toFixed(0)} ms, one hash ${oneHashMs.toFixed(1)} ms`).toBeLessThan((50 * oneHashMs) / 2);
    expect(gate.up.received).toHaveLength(0);

    // The right password is a different credential: verified (a miss), then served from the cache.
    for (let i = 0; i < 3; i++) {
      const ok = await fetch(`${gate.url}/rest/v2/devices`, { headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
      expect(ok.status).toBe(200);
    }
    expect(await metric(gate.adminUrl, 'trackgate_validation_cache_events_total', { event: 'miss' })).toBe(2);
    expect(await metric(gate.adminUrl, 'trackgate_validation_cache_events_total', { event: 'hit' })).toBe(2);
    expect(await metric(gate.adminUrl, 'trackgate_auth_duration_seconds_count', { scheme: 'basic', cache: 'miss' })).toBe(1);
    expect(await metric(gate.adminUrl, 'trackgate_auth_duration_seconds_count', { scheme: 'basic', cache: 'hit' })).toBe(2);
  });
});
