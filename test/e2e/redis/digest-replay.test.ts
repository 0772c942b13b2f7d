/**
 * Digest replay across replicas: two trackgates (in-process App instances) with one shared secret (so each
 * accepts the other's nonces) and one real redis-server. A request accepted by A and replayed verbatim to B is
 * refused; with Redis gone the Digest check fails closed; a Redis that comes back empty answers the replay
 * `stale=true`, never accepts it.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RedisNonceCounter } from '../../../src/store/redis-nonce-counter.js';
import { challengesFor, digestAuthorization, digestChallenges, send, type DigestChallenge } from '../../helpers/digest-client.js';
import { startRecordingUpstream, type RecordingUpstream } from '../../helpers/recording-upstream.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { DEMO, startTrackgate, type TestGate } from '../../helpers/trackgate.js';
import { waitFor } from '../../helpers/wait.js';

const REALM = 'GPS Data Web Service';
const PATH = '/rest/v2/devices';

let redis: RedisServer;
let up: RecordingUpstream;
let a: TestGate;
let b: TestGate;

beforeAll(async () => {
  redis = await startRedisServer();
  up = await startRecordingUpstream();
  // Without one shared secret B would refuse A's nonce as not its own, and the replay test would prove nothing.
  const files = { secret: randomBytes(32).toString('hex') };
  const config = {
    store: { url: redis.url },
    secretFile: 'secret',
    authn: { digest: { realm: REALM, algorithms: ['MD5'] } },
    cache: { negativeTtlSeconds: 0 },
    logging: { level: 'warn' },
  };
  a = await startTrackgate({ upstreamUrl: up.url, files, config });
  b = await startTrackgate({ upstreamUrl: up.url, files, config });
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await up?.close();
  await redis?.close();
});
beforeEach(() => { up.received.length = 0; });


async function challenge(g: TestGate): Promise<DigestChallenge> {
  const [c] = await challengesFor(g.url, { path: PATH });
  expect(c).toBeDefined();
  return c!;
}

function authorization(c: DigestChallenge, nc: number): string {
  return digestAuthorization({ challenge: c, username: DEMO.user, password: DEMO.password, method: 'GET', uri: PATH, nc });
}

function get(g: TestGate, auth: string) {
  return send(g.url, { path: PATH, headers: { authorization: auth } });
}

describe('Digest nc replay across two replicas on one Redis', () => {
  it('both replicas use the Redis nc store', () => {
    for (const g of [a, b]) expect(g.app.nonceCounter).toBeInstanceOf(RedisNonceCounter);
  });

  it('a request accepted by A and replayed verbatim to B is refused; a new count on that nonce is accepted by B', async () => {
    const c = await challenge(a);
    const first = authorization(c, 1);
    expect((await get(a, first)).status).toBe(200);

    const replayed = await get(b, first);
    expect(replayed.status).toBe(401);
    expect(JSON.parse(replayed.body)).toMatchObject({ error: 'TG_ERR_INVALID_CREDENTIALS' });
    expect((await get(a, first)).status).toBe(401);
    expect(up.received).toHaveLength(1);

    // Control: B accepts A's nonce, so the refusal above was the replay, not a foreign nonce.
    expect((await get(b, authorization(c, 2))).status).toBe(200);
    expect((await get(a, authorization(c, 2))).status).toBe(401);
    expect(up.received).toHaveLength(2);
  });

  it('Redis down: the Digest check fails closed with 503; back empty: the replay gets stale=true, a new nonce works', async () => {
    const c = await challenge(a);
    const first = authorization(c, 1);
    expect((await get(a, first)).status).toBe(200);

    await redis.stop();
    const down = await get(b, authorization(c, 2));
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toMatchObject({ error: 'TG_ERR_STORE_UNAVAILABLE' });
    expect(up.received).toHaveLength(1);

    await redis.start();
    expect(await waitFor(async () => (await fetch(`${a.adminUrl}/readyz`)).status === 200 && (await fetch(`${b.adminUrl}/readyz`)).status === 200, 10_000)).toBe(true);
    // Nothing was persisted: B cannot know count 1 was used, so it must not accept it.
    const replayed = await get(b, first);
    expect(replayed.status).toBe(401);
    expect(JSON.parse(replayed.body)).toMatchObject({ error: 'TG_ERR_EXPIRED_CREDENTIALS' });
    expect(digestChallenges(replayed.distinct['www-authenticate'] ?? []).every((ch) => ch.stale)).toBe(true);
    expect(up.received).toHaveLength(1);

    const fresh = await challenge(b);
    expect((await get(b, authorization(fresh, 1))).status).toBe(200);
    expect((await get(a, authorization(fresh, 1))).status).toBe(401);
  });
});
