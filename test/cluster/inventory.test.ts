/**
 * The inventory with `workers: 2` (the real CLI, a real SQLite file): both workers write their sightings to the
 * one store and the counts add up exactly; the primary's trackgate_clients_by_scheme is the store's count, not
 * the sum of the workers' (each reads the same records); the primary serves `/admin/inventory` from that store
 * behind the operator login; SIGTERM writes what was still pending.
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { operatorAuth, operatorsFileText } from '../helpers/operators.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { startCluster, type ClusterProc } from '../helpers/cluster-process.js';
import { freePort } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
let up: RecordingUpstream;
let tg: ClusterProc;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-cluster-inventory-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  writeFileSync(join(dir, 'operators.htpasswd'), await operatorsFileText());
  up = await startRecordingUpstream();
  tg = await startCluster({
    dir, name: 'inventory', config: {
      listen: `127.0.0.1:${await freePort()}`,
      admin: { listen: `127.0.0.1:${await freePort()}`, operatorsFile: 'operators.htpasswd' },
      upstream: { url: up.url },
      store: { url: `sqlite:${join(dir, 'store.sqlite')}` },
      accountsFile: 'accounts.yaml',
      inventory: { flushSeconds: 1 },
      logging: { level: 'info' },
      shutdown: { graceMs: 2000 },
      watch: false,
      workers: 2,
    },
  });
}, 30000);

afterAll(async () => {
  tg?.kill();
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One request on a connection of its own (the primary hands connections to the workers in turn). */
function get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${tg.proxy}${path}`, { agent: false, headers: { authorization: basicAuth(DEMO.user, DEMO.password) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

async function basicCount(): Promise<number | undefined> {
  const store = new SqliteStore(join(dir, 'store.sqlite'));
  try {
    return (await store.listInventory({ scheme: 'basic', limit: 10 }))[0]?.count;
  } finally {
    await store.close();
  }
}

it('two workers add up in one store; the primary reports distinct clients once; SIGTERM writes the rest', async () => {
  const statuses = await Promise.all(Array.from({ length: 60 }, (_, i) => get(`/inv?probe=${i}`)));
  expect(statuses.every((s) => s === 200)).toBe(true);
  const servedBy = new Set(tg.records.filter((r) => r.msg === 'request' && String(r.path).startsWith('/inv?')).map((r) => r.pid));
  expect(servedBy.size).toBe(2);
  expect(await waitFor(async () => (await basicCount()) === 60, 10_000, 100)).toBe(true);

  // Each worker reads 1 client from the shared store; summed it would say 2.
  const text = await (await fetch(`${tg.admin}/metrics`)).text();
  expect(text).toMatch(/^trackgate_clients_by_scheme\{scheme="basic"\} 1$/m);
  // The primary serves the operator paths from the same store, behind the operator login.
  expect((await fetch(`${tg.admin}/admin/inventory`)).status).toBe(401);
  const report = await (await fetch(`${tg.admin}/admin/inventory?scheme=basic`, { headers: operatorAuth })).json() as { records: { count: number }[] };
  expect(report.records.map((r) => r.count)).toEqual([60]);

  const more = await Promise.all(Array.from({ length: 7 }, (_, i) => get(`/inv?late=${i}`)));
  expect(more.every((s) => s === 200)).toBe(true);
  tg.child.kill('SIGTERM');
  expect((await tg.exited).code).toBe(0);
  expect(await basicCount()).toBe(67);
}, 60000);
