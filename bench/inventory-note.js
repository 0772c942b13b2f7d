/**
 * The inventory's cost without HTTP (dist/): `InventoryRecorder.note` for one client seen again and again (the
 * common case: a pending record found and updated), then for many distinct clients (a new record each), in
 * nanoseconds per call; and one write of `WRITE_BATCH` records to a fresh SQLite store (new records, then the
 * same ones again), in ms: how long a write holds the event loop. Medians of rounds. `npm run build` first.
 *
 *   node bench/inventory-note.js        INVENTORY_NOTE_N=1000000 (calls per round)  INVENTORY_NOTE_ROUNDS=5
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InventoryRecorder, WRITE_BATCH } from '../dist/inventory/recorder.js';
import { SqliteStore } from '../dist/store/sqlite.js';
import { median } from './lib/harness.js';

const n = Number(process.env.INVENTORY_NOTE_N ?? 1_000_000);
const rounds = Number(process.env.INVENTORY_NOTE_ROUNDS ?? 5);
const quiet = { warn() {}, info() {} };
const recorder = () => new InventoryRecorder({ recordInventory: async () => {}, pruneInventory: async () => 0 },
  () => ({ enabled: true, maxPending: 10_000_000, flushSeconds: 5, retentionDays: 90, recordAddress: false, clientsWindowDays: 30 }), Date.now, quiet);

function time(fn) {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / n;
}

const same = Object.freeze({ subject: 'j.random.user', scheme: 'basic', kind: 'user', account: 'demo-account' });
const distinct = Array.from({ length: n }, (_, i) => Object.freeze({ subject: `device-${i}`, scheme: 'instance', kind: 'device', instance: 'fleet' }));
const hit = [];
const fresh = [];
for (let r = 0; r < rounds; r++) {
  const a = recorder();
  hit.push(time(() => { for (let i = 0; i < n; i++) a.note('basic', same, 'wrk/4.2', undefined); }));
  const b = recorder();
  fresh.push(time(() => { for (let i = 0; i < n; i++) b.note('instance', distinct[i], undefined, undefined); }));
}
const dir = mkdtempSync(join(tmpdir(), 'trackgate-inventory-note-'));
const store = new SqliteStore(join(dir, 'store.sqlite'));
const created = [];
const updated = [];
for (let r = 0; r < rounds; r++) {
  const now = Date.now();
  const batch = Array.from({ length: WRITE_BATCH }, (_, i) => ({
    scheme: 'session_token', dialect: 'bench', subject: `client-${r}-${i}`, kind: 'user', account: 'bench-account', instance: '',
    firstSeen: now, lastSeen: now, count: 3, userAgent: 'wrk/4.2',
  }));
  let t0 = performance.now();
  await store.recordInventory(batch);
  created.push(performance.now() - t0);
  t0 = performance.now();
  await store.recordInventory(batch);
  updated.push(performance.now() - t0);
}
await store.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`note, one client seen again: ${median(hit).toFixed(0)} ns/call\nnote, a new client each call: ${median(fresh).toFixed(0)} ns/call\n`
  + `SQLite write of ${WRITE_BATCH} records: ${median(created).toFixed(2)} ms new, ${median(updated).toFixed(2)} ms existing\n`);
