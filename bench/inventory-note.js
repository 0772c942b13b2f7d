/**
 * The inventory's cost on the request path without HTTP: `InventoryRecorder.note` (dist/) for one client seen
 * again and again (the common case: a pending record found and updated), then for many distinct clients (a new
 * record each), in nanoseconds per call, median of rounds. `npm run build` first.
 *
 *   node bench/inventory-note.js        INVENTORY_NOTE_N=1000000 (calls per round)  INVENTORY_NOTE_ROUNDS=5
 */
import { InventoryRecorder } from '../dist/inventory/recorder.js';
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
process.stdout.write(`note, one client seen again: ${median(hit).toFixed(0)} ns/call\nnote, a new client each call: ${median(fresh).toFixed(0)} ns/call\n`);
