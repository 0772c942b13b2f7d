/**
 * The inventory through a real trackgate (SQLite): every admitted request is counted once per client × form ×
 * dialect, under concurrent load the counts add up exactly after a write, rejected requests are not counted,
 * addresses are kept only when configured, `enabled: false` records nothing, the bound on pending records holds,
 * and what is pending at shutdown is written.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.js';
import { startGate, type Gate } from '../helpers/gate.js';
import { issueSessionToken } from '../helpers/session-tokens.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';

const gates: Gate[] = [];
afterEach(async () => { await Promise.all(gates.splice(0).map((g) => g.close())); });

async function gate(inventory: Record<string, unknown> = {}): Promise<Gate> {
  const g = await startGate({
    config: {
      authn: { session_token: { enabled: true } },
      // Writes happen when the test asks (flush), not on a timer it would race.
      inventory: { flushSeconds: 300, ...inventory },
      logging: { level: 'warn' },
    },
  });
  gates.push(g);
  return g;
}

const basic = { authorization: basicAuth(DEMO.user, DEMO.password), 'user-agent': 'tracker/1.0' };

describe('inventory recording', () => {
  it('counts concurrent requests of two forms exactly, with the dialect of a stored token and the last user agent', async () => {
    const g = await gate();
    const token = await issueSessionToken(g);
    const sends = [
      ...Array.from({ length: 120 }, () => fetch(`${g.url}/a`, { headers: basic })),
      ...Array.from({ length: 80 }, () => fetch(`${g.url}/b`, { headers: { 'x-token': token, 'user-agent': 'legacy-app/2' } })),
      // Rejected: a wrong password is no client of the inventory.
      ...Array.from({ length: 5 }, () => fetch(`${g.url}/c`, { headers: { authorization: basicAuth(DEMO.user, 'wrong') } })),
    ];
    const statuses = await Promise.all(sends.map(async (p) => { const r = await p; await r.arrayBuffer(); return r.status; }));
    expect(statuses.filter((s) => s === 200)).toHaveLength(200);
    await g.app.inventory.flush();
    const recs = await g.app.store.listInventory({ limit: 10 });
    const by = Object.fromEntries(recs.map((r) => [r.scheme, r]));
    expect(Object.keys(by).sort()).toEqual(['basic', 'session_token']);
    expect(by.basic).toMatchObject({ subject: DEMO.user, kind: 'user', dialect: '', count: 120, userAgent: 'tracker/1.0' });
    expect(by.session_token).toMatchObject({ subject: DEMO.user, dialect: 'gps-rest-v2', account: 'demo-account', count: 80, userAgent: 'legacy-app/2' });
    expect(by.basic!.address).toBeUndefined();
    expect(by.basic!.firstSeen).toBeLessThanOrEqual(by.basic!.lastSeen);
    // A second write adds to the same records.
    await (await fetch(`${g.url}/a`, { headers: basic })).arrayBuffer();
    await g.app.inventory.flush();
    expect((await g.app.store.listInventory({ scheme: 'basic', limit: 10 }))[0]!.count).toBe(121);
  });

  it('keeps the client address only with recordAddress', async () => {
    const g = await gate({ recordAddress: true });
    await (await fetch(`${g.url}/a`, { headers: basic })).arrayBuffer();
    await g.app.inventory.flush();
    expect((await g.app.store.listInventory({ limit: 10 }))[0]).toMatchObject({ address: '127.0.0.1', count: 1 });
  });

  it('records nothing when disabled', async () => {
    const g = await gate({ enabled: false });
    await (await fetch(`${g.url}/a`, { headers: basic })).arrayBuffer();
    await g.app.inventory.flush();
    expect(await g.app.store.listInventory({ limit: 10 })).toEqual([]);
  });

  it('drops sightings of new records past maxPending and counts them', async () => {
    const g = await gate({ maxPending: 100 });
    const identity = (i: number) => ({ subject: `s-${i}`, scheme: 'basic', kind: 'user' as const });
    for (let i = 0; i < 130; i++) g.app.inventory.note('basic', identity(i), undefined, undefined);
    // A record already pending still counts.
    g.app.inventory.note('basic', identity(0), undefined, undefined);
    expect(g.app.inventory.pending).toBe(100);
    expect((await g.app.metrics.inventoryDropped.get()).values[0]!.value).toBe(30);
    await g.app.inventory.flush();
    const recs = await g.app.store.listInventory({ limit: 1000 });
    expect(recs).toHaveLength(100);
    expect(recs.reduce((n, r) => n + r.count, 0)).toBe(101);
  });

  it('writes what is pending when the app closes', async () => {
    const g = await gate();
    await (await fetch(`${g.url}/a`, { headers: basic })).arrayBuffer();
    const file = join(g.dir, 'store.sqlite');
    await g.app.close(100);
    const store = new SqliteStore(file);
    try {
      expect((await store.listInventory({ limit: 10 })).map((r) => [r.scheme, r.count])).toEqual([['basic', 1]]);
    } finally {
      await store.close();
    }
  });

  it('reports distinct clients by scheme from the store in /metrics', async () => {
    const g = await gate();
    const token = await issueSessionToken(g);
    await (await fetch(`${g.url}/a`, { headers: basic })).arrayBuffer();
    await (await fetch(`${g.url}/b`, { headers: { 'x-token': token } })).arrayBuffer();
    await g.app.inventory.flush();
    const text = await (await fetch(`${g.adminUrl}/metrics`)).text();
    expect(text).toContain('trackgate_clients_by_scheme{scheme="basic"} 1');
    expect(text).toContain('trackgate_clients_by_scheme{scheme="session_token"} 1');
  });
});
