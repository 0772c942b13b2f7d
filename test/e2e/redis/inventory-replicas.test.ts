/**
 * Two trackgate replicas (in-process apps) on one real redis-server: concurrent load spread over both, each
 * writing its own batches, adds up exactly in the shared inventory; either replica lists the same records and
 * reports the same distinct clients.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../../helpers/recording-upstream.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../../helpers/trackgate.js';

let redis: RedisServer;
let up: RecordingUpstream;
let a: TestGate;
let b: TestGate;

beforeAll(async () => {
  redis = await startRedisServer();
  up = await startRecordingUpstream();
  const config = {
    store: { url: redis.url },
    authn: { instance: { enabled: true } },
    inventory: { flushSeconds: 300 },
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

const user = { authorization: basicAuth(DEMO.user, DEMO.password) };
const device = { instanceid: DEMO.instanceId, instancekey: DEMO.instanceKey, devicetoken: DEMO.deviceToken };

it('concurrent requests on two replicas add up exactly in the shared inventory', async () => {
  const send = async (g: TestGate, headers: Record<string, string>): Promise<number> => {
    const r = await fetch(`${g.url}/x`, { headers });
    await r.arrayBuffer();
    return r.status;
  };
  // Three rounds with a write of each replica between them: batches of both replicas merge in every order.
  for (let round = 0; round < 3; round++) {
    const statuses = await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => send(i % 2 === 0 ? a : b, user)),
      ...Array.from({ length: 30 }, (_, i) => send(i % 3 === 0 ? a : b, device)),
    ]);
    expect(statuses.every((s) => s === 200)).toBe(true);
    await Promise.all([a.app.inventory.flush(), b.app.inventory.flush()]);
  }
  const fromA = await a.app.store.listInventory({ limit: 10 });
  const fromB = await b.app.store.listInventory({ limit: 10 });
  expect(fromB).toEqual(fromA);
  const by = Object.fromEntries(fromA.map((r) => [`${r.scheme}/${r.dialect}`, r]));
  expect(Object.keys(by).sort()).toEqual(['basic/', 'instance/headers']);
  expect(by['basic/']).toMatchObject({ subject: DEMO.user, kind: 'user', count: 150 });
  expect(by['instance/headers']).toMatchObject({ kind: 'device', instance: DEMO.instanceId, count: 90 });
  expect(Object.fromEntries(await b.app.store.countInventoryClients(0))).toEqual({ basic: 1, instance: 1 });
});
