/**
 * Two trackgate replicas (in-process App instances, each with its own validation cache) sharing one real
 * redis-server: tokens issued by one work on the other, a revocation or family kill on one evicts the other's
 * cache within a second, brute-force counts are shared, and with Redis gone issuance answers 503 while cached
 * credentials keep working, until Redis is back.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { lookupDigest } from '../../../src/accounts/digest-token.js';
import { RefreshRotation } from '../../../src/issue/refresh.js';
import { RedisStore } from '../../../src/store/redis.js';
import { RedisThrottle } from '../../../src/store/redis-throttle.js';
import { TimedStore } from '../../../src/store/timed-store.js';
import { startRecordingUpstream, type RecordingUpstream } from '../../helpers/recording-upstream.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { DEMO, startTrackgate, type TestGate } from '../../helpers/trackgate.js';
import { waitFor } from '../../helpers/wait.js';

let redis: RedisServer;
let up: RecordingUpstream;
let a: TestGate;
let b: TestGate;

beforeAll(async () => {
  redis = await startRedisServer();
  up = await startRecordingUpstream();
  const config = {
    store: { url: redis.url },
    authn: { 'session_token': { enabled: true }, 'oauth': { enabled: true } },
    throttle: { user: { limit: 3, windowSeconds: 60 } },
    logging: { level: 'warn' },
  };
  a = await startTrackgate({ upstreamUrl: up.url, config });
  b = await startTrackgate({ upstreamUrl: up.url, config });
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await up?.close();
  await redis?.close();
});
beforeEach(async () => {
  if (!redis.running) await redis.start();
  expect(await waitFor(async () => (await fetch(`${a.adminUrl}/readyz`)).status === 200 && (await fetch(`${b.adminUrl}/readyz`)).status === 200, 10_000)).toBe(true);
  await redis.command('FLUSHALL');
  a.app.cache.clear();
  b.app.cache.clear();
  up.received.length = 0;
});


/** `POST <prefix>/token` on a gate; resolves with the response (redirects not followed). */
function postToken(g: TestGate, form: Record<string, string>): Promise<Response> {
  return fetch(`${g.url}/rest/v2/token`, {
    method: 'POST', redirect: 'manual', body: new URLSearchParams(form).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

/** Issues a GPS REST v2 session token through `g` and returns its value. */
async function issue(g: TestGate): Promise<string> {
  const res = await postToken(g, { key: DEMO.webServiceKey });
  expect(res.status).toBe(303);
  const token = new URLSearchParams(res.headers.get('location')!.split('?')[1]).get('_token');
  expect(token).toBeTruthy();
  return token!;
}

function gateway(g: TestGate, token: string): Promise<Response> {
  return fetch(`${g.url}/rest/v2/gateway?_token=${encodeURIComponent(token)}`);
}

describe('two replicas, one Redis', () => {
  it('use the Redis store and throttle', () => {
    for (const g of [a, b]) {
      // The app times every store operation (trackgate_store_duration_seconds) around the engine it opened.
      expect(g.app.store).toBeInstanceOf(TimedStore);
      expect((g.app.store as TimedStore).inner).toBeInstanceOf(RedisStore);
      expect(g.app.throttle).toBeInstanceOf(RedisThrottle);
    }
  });

  it('a token issued through A works through B', async () => {
    const token = await issue(a);
    const res = await gateway(b, token);
    expect(res.status).toBe(200);
    expect(up.received).toHaveLength(1);
    expect(up.received[0]!.url).toBe('/rest/v2/gateway');
    expect(up.received[0]!.headers['x-identity-assertion']).toBeTruthy();
  });

  it('revoking on A makes B refuse within a second, although B had it cached', async () => {
    const token = await issue(a);
    const digest = lookupDigest(token);
    expect((await gateway(b, token)).status).toBe(200);
    // Control: marked revoked behind B's back (no event), B still serves it from its cache.
    await ((a.app.store as TimedStore).inner as RedisStore).redis.hset(`tg:tok:${digest}`, 'revokedAt', String(Date.now()));
    expect((await gateway(b, token)).status).toBe(200);
    await ((a.app.store as TimedStore).inner as RedisStore).redis.hdel(`tg:tok:${digest}`, 'revokedAt');
    // The real revocation, through A's store: its event reaches B.
    expect(await a.app.store.revokeTokens([digest], Date.now())).toBe(1);
    expect(await waitFor(async () => (await gateway(b, token)).status === 401, 1000, 25)).toBe(true);
    expect((await gateway(a, token)).status).toBe(401);
  });

  it('a refresh-family kill on A makes B refuse the family\'s access tokens within a second', async () => {
    let now = Date.now();
    const rotation = new RefreshRotation(a.app.tokens, a.app.store, () => 0, () => now);
    const pair = await rotation.issuePair({ subject: DEMO.user, kind: 'user' }, { issuer: 'oauth2_password', accessTtlSeconds: 3600, refreshTtlSeconds: 86400 });
    const next = await rotation.rotate(pair.refresh.value);
    const oauth = (t: string) => fetch(`${b.url}/track`, { headers: { authorization: `OAuth ${t}` } });
    // The old access token stays valid after a refresh; both are now in B's cache.
    expect((await oauth(pair.access.value)).status).toBe(200);
    expect((await oauth(next.access.value)).status).toBe(200);
    now += 1;
    // The spent refresh token again, past the (zero) grace window: reuse, the family dies.
    await expect(rotation.rotate(pair.refresh.value)).rejects.toMatchObject({ code: 'TG_ERR_INVALID_CREDENTIALS' });
    expect(await waitFor(async () => (await oauth(pair.access.value)).status === 401 && (await oauth(next.access.value)).status === 401, 1000, 25)).toBe(true);
    await expect(rotation.rotate(next.refresh.value)).rejects.toMatchObject({ code: 'TG_ERR_INVALID_CREDENTIALS' });
  });

  it('failed password checks on A count on B', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await postToken(a, { username: DEMO.user, password: 'wrong' })).status).toBe(400);
    }
    const res = await postToken(b, { username: DEMO.user, password: DEMO.password });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_THROTTLED' });
  });

  it('Redis stopped: issuance 503 TG_ERR_STORE_UNAVAILABLE, cached credentials still 200, /readyz 503; Redis back: recovers', async () => {
    const cached = await issue(a);
    expect((await gateway(b, cached)).status).toBe(200);
    const uncached = await issue(a);

    await redis.stop();
    expect(await waitFor(async () => (await fetch(`${a.adminUrl}/readyz`)).status === 503, 3000)).toBe(true);

    // A password login: the throttle falls back to B's own counts (B never counted a failure itself; A's local
    // counts from other tests would rightly say 429), the password is checked, the store write fails.
    const t0 = Date.now();
    const res = await postToken(b, { username: DEMO.user, password: DEMO.password });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'TG_ERR_STORE_UNAVAILABLE', message: 'token store unavailable' });
    expect((await postToken(a, { key: DEMO.webServiceKey })).status).toBe(503);

    expect((await gateway(b, cached)).status).toBe(200);
    // Not cached: cannot be checked now (503, not a 401 verdict).
    expect((await gateway(b, uncached)).status).toBe(503);

    for (const g of [a, b]) {
      const ready = await fetch(`${g.adminUrl}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'not_ready', checks: { store: { ok: false } } });
    }

    await redis.start();
    expect(await waitFor(async () => (await fetch(`${a.adminUrl}/readyz`)).status === 200 && (await fetch(`${b.adminUrl}/readyz`)).status === 200, 10_000)).toBe(true);
    const fresh = await issue(a);
    expect((await gateway(b, fresh)).status).toBe(200);
    // The restarted test server is empty (no persistence), and B dropped its cache when it resubscribed
    // (events may have been missed): the old token is now checked against Redis, and unknown there.
    expect((await gateway(b, cached)).status).toBe(401);
  });
});
