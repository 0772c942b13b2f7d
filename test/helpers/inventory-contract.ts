/**
 * The inventory part of the `Store` contract, one suite run against every engine (test/store/inventory.test.ts,
 * test/e2e/redis/inventory.test.ts): merging, concurrent writers adding up, filters, distinct clients, pruning.
 * `open` may be called twice per test: two connections to one store, as two replicas have.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { InventoryRecord, Store } from '../../src/store/types.js';

export function sighting(over: Partial<InventoryRecord> = {}): InventoryRecord {
  return {
    scheme: 'basic', dialect: '', subject: 'j.random.user', kind: 'user', account: '', instance: '',
    firstSeen: 1_000, lastSeen: 2_000, count: 1, ...over,
  };
}

export function inventoryContract(engine: string, open: () => Promise<Store>): void {
  describe(`Store contract, inventory: ${engine}`, () => {
    const opened: Store[] = [];
    const connect = async (): Promise<Store> => { const s = await open(); opened.push(s); return s; };
    afterEach(async () => { await Promise.all(opened.splice(0).map((s) => s.close())); });

    it('merges sightings: counts add, first seen is the earliest, user agent and address follow the latest', async () => {
      const store = await connect();
      await store.recordInventory([sighting({ firstSeen: 1_000, lastSeen: 2_000, count: 3, userAgent: 'old/1', address: '10.0.0.1' })]);
      await store.recordInventory([sighting({ firstSeen: 5_000, lastSeen: 6_000, count: 2, userAgent: 'new/2' })]);
      // A late batch (a replica that wrote after a newer one) moves neither last seen nor the user agent back.
      await store.recordInventory([sighting({ firstSeen: 500, lastSeen: 1_500, count: 4, userAgent: 'older/0', address: '10.9.9.9' })]);
      const [rec, ...rest] = await store.listInventory({ limit: 10 });
      expect(rest).toEqual([]);
      expect(rec).toEqual(sighting({ firstSeen: 500, lastSeen: 6_000, count: 9, userAgent: 'new/2' }));
    });

    it('keeps one record per client × scheme × dialect, newest first, and filters by scheme, kind, account and last seen', async () => {
      const store = await connect();
      await store.recordInventory([
        sighting({ scheme: 'digest', subject: 'a', lastSeen: 3_000 }),
        sighting({ scheme: 'session_token', dialect: 'gps_rest_v2', subject: 'a', lastSeen: 4_000 }),
        sighting({ scheme: 'session_token', dialect: 'geoloqi', subject: 'a', lastSeen: 5_000 }),
        sighting({ scheme: 'instance', dialect: 'headers', subject: 'dev-1', kind: 'device', instance: 'grp', lastSeen: 6_000 }),
        sighting({ scheme: 'oauth', subject: 'b', account: 'acme', lastSeen: 7_000 }),
      ]);
      const all = await store.listInventory({ limit: 100 });
      expect(all.map((r) => `${r.scheme}/${r.dialect}/${r.subject}`)).toEqual([
        'oauth//b', 'instance/headers/dev-1', 'session_token/geoloqi/a', 'session_token/gps_rest_v2/a', 'digest//a',
      ]);
      expect((await store.listInventory({ scheme: 'session_token', limit: 100 })).map((r) => r.dialect)).toEqual(['geoloqi', 'gps_rest_v2']);
      expect((await store.listInventory({ kind: 'device', limit: 100 })).map((r) => r.instance)).toEqual(['grp']);
      expect((await store.listInventory({ account: 'acme', limit: 100 })).map((r) => r.subject)).toEqual(['b']);
      expect((await store.listInventory({ seenSince: 5_000, limit: 100 })).map((r) => r.lastSeen)).toEqual([7_000, 6_000, 5_000]);
      expect(await store.listInventory({ limit: 2 })).toHaveLength(2);
    });

    it('counts distinct clients per scheme within a window (dialects of one client are one client)', async () => {
      const store = await connect();
      await store.recordInventory([
        sighting({ scheme: 'session_token', dialect: 'geoloqi', subject: 'a', lastSeen: 5_000 }),
        sighting({ scheme: 'session_token', dialect: 'gps_rest_v2', subject: 'a', lastSeen: 2_000 }),
        sighting({ scheme: 'session_token', subject: 'b', lastSeen: 1_000 }),
        sighting({ scheme: 'digest', subject: 'a', lastSeen: 9_000 }),
      ]);
      expect(Object.fromEntries(await store.countInventoryClients(0))).toEqual({ session_token: 2, digest: 1 });
      expect(Object.fromEntries(await store.countInventoryClients(3_000))).toEqual({ session_token: 1, digest: 1 });
      expect(Object.fromEntries(await store.countInventoryClients(10_000))).toEqual({});
    });

    it('prunes records last seen before a time, and their clients', async () => {
      const store = await connect();
      await store.recordInventory([sighting({ subject: 'old', lastSeen: 1_000 }), sighting({ subject: 'new', lastSeen: 9_000 })]);
      expect(await store.pruneInventory(5_000)).toBe(1);
      expect((await store.listInventory({ limit: 10 })).map((r) => r.subject)).toEqual(['new']);
      expect(Object.fromEntries(await store.countInventoryClients(0))).toEqual({ basic: 1 });
      expect(await store.pruneInventory(5_000)).toBe(0);
    });

    it('concurrent batches from two connections add up exactly', async () => {
      const [a, b] = [await connect(), await connect()];
      const clients = Array.from({ length: 40 }, (_, i) => `client-${i}`);
      const batch = (n: number): InventoryRecord[] => clients.map((subject) => sighting({ subject, count: n, lastSeen: 1_000 + n }));
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).recordInventory(batch(i + 1))));
      const recs = await a.listInventory({ limit: 1000 });
      expect(recs).toHaveLength(40);
      // 1 + 2 + … + 20 per client, whichever connection wrote which batch in which order.
      for (const r of recs) expect([r.count, r.lastSeen, r.firstSeen]).toEqual([210, 1_020, 1_000]);
    });
  });
}
