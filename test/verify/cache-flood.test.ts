/**
 * Through a real trackgate with a small validation cache (issue 13, item 4): a flood of random tokens (cookie,
 * `_token`, Bearer), thirty times `cache.maxEntries`, leaves every cached legitimate credential a hit (no new
 * verification), and the rejections it caches stay within `cache.maxNegativeEntries`; a stream of valid tokens
 * anyone can mint (Geoloqi `create_anon`, an anonymous user each), each used once, does not push them out either
 * (`cache.admission: frequency`).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { metric } from '../helpers/metrics.js';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';

const MAX_ENTRIES = 10;
const MAX_NEGATIVE = 8;
const FLOOD = 300;

const gate = useGate({
  config: {
    cache: { maxEntries: MAX_ENTRIES, maxNegativeEntries: MAX_NEGATIVE },
    authn: { session_token: { enabled: true }, bearer: { enabled: true } },
  },
});

const cacheEvents = (event: string): Promise<number> => metric(gate.adminUrl, 'trackgate_validation_cache_events_total', { event });

async function sessionToken(): Promise<string> {
  const token = randomBytes(24).toString('base64url');
  const now = Date.now();
  await gate.app.store.putToken({
    digest: lookupDigest(token), type: 'session', issuer: 'gps-rest-v2', subject: DEMO.user, kind: 'user',
    account: 'demo-account', issuedAt: now, expiresAt: now + 3_600_000,
  });
  return token;
}

/** A new anonymous user's access token: what anyone who knows a public client id can get, as often as they like. */
async function mintAnonymous(): Promise<string> {
  const res = await fetch(`${gate.url}/1/user/create_anon`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_id: DEMO.clientId }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

async function status(path: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(`${gate.url}${path}`, { headers });
  await res.arrayBuffer();
  return res.status;
}

describe('a random-token flood through the proxy', () => {
  it(`${FLOOD} random tokens (${FLOOD / MAX_ENTRIES}× cache.maxEntries) evict no cached user; rejections stay within maxNegativeEntries`, async () => {
    const [cookieToken, queryToken] = [await sessionToken(), await sessionToken()];
    const legit: [string, Record<string, string>][] = [
      ['/rest/v2/devices', { authorization: basicAuth(DEMO.user, DEMO.password) }],
      ['/rest/v2/devices', { cookie: `token=${cookieToken}` }],
      [`/rest/v2/devices?_token=${queryToken}`, {}],
    ];
    for (const [path, headers] of legit) expect(await status(path, headers)).toBe(200);
    expect(await cacheEvents('miss')).toBe(legit.length);

    const random = (): string => randomBytes(24).toString('base64url');
    const carriers = [
      (t: string): [string, Record<string, string>] => ['/rest/v2/devices', { cookie: `token=${t}` }],
      (t: string): [string, Record<string, string>] => [`/rest/v2/devices?_token=${t}`, {}],
      (t: string): [string, Record<string, string>] => ['/rest/v2/devices', { authorization: `Bearer ${t}` }],
    ];
    const statuses: number[] = [];
    // Eight at a time: the rejections arrive interleaved, as from many attacking clients.
    for (let i = 0; i < FLOOD; i += 8) {
      statuses.push(...await Promise.all(Array.from({ length: 8 }, (_, j) => status(...carriers[(i + j) % 3]!(random())))));
    }
    expect(statuses.every((s) => s === 401)).toBe(true);
    expect(await metric(gate.adminUrl, 'trackgate_validation_cache_negative_entries')).toBe(MAX_NEGATIVE);
    expect(await cacheEvents('negative_evict')).toBe(statuses.length - MAX_NEGATIVE);

    const missesBefore = await cacheEvents('miss');
    const hitsBefore = await cacheEvents('hit');
    for (const [path, headers] of legit) expect(await status(path, headers)).toBe(200);
    // Every legitimate credential was still cached: hits, and no verification (no miss) for any of them.
    expect(await cacheEvents('miss')).toBe(missesBefore);
    expect(await cacheEvents('hit')).toBe(hitsBefore + legit.length);
    expect(await cacheEvents('evict')).toBe(0);
    expect(await metric(gate.adminUrl, 'trackgate_validation_cache_entries')).toBe(legit.length + MAX_NEGATIVE);
    expect(gate.up.received).toHaveLength(legit.length * 2);
  }, 60_000);

  it('anonymous users minted in a loop, each token used once (10× cache.maxEntries), push no regular user out', async () => {
    const legit: [string, Record<string, string>][] = [
      ['/rest/v2/devices', { authorization: basicAuth(DEMO.user, DEMO.password) }],
      [`/rest/v2/devices?_token=${await sessionToken()}`, {}],
    ];
    // Regular users: each has come back at least once.
    for (let n = 0; n < 2; n++) for (const [path, headers] of legit) expect(await status(path, headers)).toBe(200);
    const missesBefore = await cacheEvents('miss');
    const minted = 10 * MAX_ENTRIES;
    for (let i = 0; i < minted; i++) {
      expect(await status('/rest/v2/devices', { authorization: `Bearer ${await mintAnonymous()}` })).toBe(200);
      // The regulars come back after every 2 × maxEntries minted tokens: under plain LRU, each would have been pushed out.
      if (i % 20 === 19) for (const [path, headers] of legit) expect(await status(path, headers)).toBe(200);
    }
    // Every miss was a minted token's own (one verification each); none was a regular user's.
    expect(await cacheEvents('miss') - missesBefore).toBe(minted);
    expect(await metric(gate.adminUrl, 'trackgate_auth_duration_seconds_count', { scheme: 'basic', cache: 'miss' })).toBe(1);
    expect(await cacheEvents('not_admitted')).toBeGreaterThan(minted / 2);
  }, 60_000);
});
