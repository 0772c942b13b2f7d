/**
 * The inventory on a real redis-server: the store contract (two connections stand for two replicas), and the
 * recorder across an outage: a write that fails keeps its sightings, and the next write after Redis is back
 * stores them exactly once, with the sightings made meanwhile.
 */
import { beforeEach, expect, it } from 'vitest';
import { InventoryRecorder } from '../../../src/inventory/recorder.js';
import { createLogger } from '../../../src/observability/log.js';
import { inventoryContract } from '../../helpers/inventory-contract.js';
import { redisPerFile } from '../../helpers/redis-per-file.js';
import { waitFor } from '../../helpers/wait.js';

const redis = redisPerFile();
beforeEach(async () => { await redis.server.command('FLUSHALL'); });

inventoryContract('redis', () => redis.connect());

it('keeps a batch whose write failed while Redis was down and writes it once Redis is back', async () => {
  const store = await redis.connect();
  const written: [boolean, number][] = [];
  const config = { enabled: true, flushSeconds: 300, retentionDays: 90, recordAddress: false, maxPending: 1000, clientsWindowDays: 30 };
  const recorder = new InventoryRecorder(store, () => config, Date.now, createLogger({ level: 'silent' }), {
    written: (ok, n) => written.push([ok, n]),
  });
  const client = { subject: 'dev-1', scheme: 'instance', kind: 'device' as const, instance: 'fleet' };
  for (let i = 0; i < 3; i++) recorder.note('instance', client, 'fw/1', undefined);
  await redis.server.stop();
  await recorder.flush();
  expect(written).toEqual([[false, 1]]);
  expect(recorder.pending).toBe(1);
  recorder.note('instance', client, 'fw/2', undefined);
  await redis.server.start();
  expect(await waitFor(() => store.ping().then(() => true, () => false), 10_000)).toBe(true);
  await recorder.flush();
  expect(written.at(-1)).toEqual([true, 1]);
  expect(recorder.pending).toBe(0);
  const [rec, ...rest] = await store.listInventory({ limit: 10 });
  expect(rest).toEqual([]);
  expect(rec).toMatchObject({ subject: 'dev-1', instance: 'fleet', count: 4, userAgent: 'fw/2' });
});
