/**
 * Reliability: SIGTERM under keep-alive load (issue 13, item 6). Keep-alive clients send requests back to
 * back to a real trackgate process; it gets SIGTERM and drains. No request that was sent may fail (a
 * reset or a hang-up); a refused new connection goes to a second instance, as to another replica once
 * the endpoint is removed. Several rounds, each with a fresh pair of processes.
 */
import { mkdtempSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type ClusterProc } from '../helpers/cluster-process.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { keepAliveLoad, type LoadResult } from '../helpers/keepalive-load.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';
import { waitFor } from '../helpers/wait.js';
import { recordRow } from './record.js';

const ROUNDS = 3;
const CLIENTS = 32;
const GRACE_MS = 5000;

let dir: string;
let up: RecordingUpstream;
const procs: ClusterProc[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-sigterm-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  up = await startRecordingUpstream();
  const plain = up.respond;
  // A few milliseconds of upstream work, so requests are in flight when the signal comes.
  up.respond = (req, res, rec) => { setTimeout(() => plain(req, res, rec), 2); };
});
afterEach(() => { for (const p of procs.splice(0)) p.kill(); });
afterAll(async () => { await up.close(); rmSync(dir, { recursive: true, force: true }); });

let n = 0;
function start(): Promise<ClusterProc> {
  const i = n++;
  return startCluster({
    dir, name: `sigterm-${i}`,
    config: {
      listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, upstream: { url: up.url },
      store: { url: `sqlite:${join(dir, `store-${i}.sqlite`)}` }, accountsFile: 'accounts.yaml', watch: false,
      logging: { level: 'info', access: false }, shutdown: { graceMs: GRACE_MS },
    },
  }).then((p) => { procs.push(p); return p; });
}

async function until(check: () => boolean, ms: number): Promise<void> {
  if (!(await waitFor(check, ms, 10))) throw new Error(`timed out after ${ms} ms`);
}

describe('SIGTERM under keep-alive load', () => {
  it(`${ROUNDS} rounds of ${CLIENTS} keep-alive clients: zero failed requests, exit 0 within the grace period`, async () => {
    const total: LoadResult = { ok: 0, closeHeaders: 0, failovers: 0, failures: [] };
    const exits: number[] = [];
    const codes: (number | null)[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const [p, other] = await Promise.all([start(), start()]);
      const load = keepAliveLoad({ primary: p.proxy, fallback: other.proxy, clients: CLIENTS, path: '/ka', headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
      const before = up.received.length;
      await until(() => up.received.length > before + 500, 15000);
      const sent = Date.now();
      p.child.kill('SIGTERM');
      const exit = await p.exited;
      exits.push(Date.now() - sent);
      codes.push(exit.code);
      const after = up.received.length;
      await until(() => up.received.length > after + 200, 15000);
      const r = await load.stop();
      total.ok += r.ok; total.closeHeaders += r.closeHeaders; total.failovers += r.failovers; total.failures.push(...r.failures);
      other.child.kill('SIGTERM');
      await other.exited;
    }
    const tried = total.ok + total.failures.length;
    recordRow({
      cls: 'faults: SIGTERM under keep-alive load',
      tried,
      failures: total.failures.length + codes.filter((c) => c !== 0).length,
      figure: `${ROUNDS} SIGTERMs × ${CLIENTS} keep-alive clients: ${total.failures.length} failed of ${tried}; exit 0 in ≤ ${Math.max(...exits)} ms`,
    });
    expect(total.failures, JSON.stringify(total)).toEqual([]);
    expect(codes).toEqual(Array(ROUNDS).fill(0));
    expect(Math.max(...exits)).toBeLessThan(GRACE_MS);
    expect(total.failovers).toBe(ROUNDS * CLIENTS);
  });
});
