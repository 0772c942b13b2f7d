/**
 * A migration policy change is a config reload: with `workers: 2` and `watch: true`, a real `trackgate` whose
 * config file is edited to deny Basic answers every request, on both workers, with the denial soon after
 * (issue 19 asks within a second), without a restart; the primary's metrics show the new sunset once, and
 * its /admin/policies the new policy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { startCluster, type ClusterProc } from '../helpers/cluster-process.js';
import { freePort } from '../helpers/ports.js';
import { metric } from '../helpers/metrics.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';
import { waitFor } from '../helpers/wait.js';
import { operatorAuth, operatorsFileText } from '../helpers/operators.js';

let dir: string;
let up: RecordingUpstream;
let tg: ClusterProc;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-cluster-policies-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  writeFileSync(join(dir, 'operators.htpasswd'), await operatorsFileText());
  up = await startRecordingUpstream();
  tg = await startCluster({
    dir, name: 'policies', config: {
      listen: `127.0.0.1:${await freePort()}`, admin: { listen: `127.0.0.1:${await freePort()}`, operatorsFile: 'operators.htpasswd' }, upstream: { url: up.url },
      store: { url: `sqlite:${join(dir, 'store.sqlite')}` }, accountsFile: 'accounts.yaml',
      logging: { level: 'info' }, watch: true, workers: 2,
    },
  });
  await waitFor(() => tg.workerPids().length === 2, 10000, 50);
}, 30000);

afterAll(async () => {
  tg?.kill();
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One request on a new connection (the primary hands connections to the workers in turn). */
async function basicStatus(path: string): Promise<number> {
  const res = await fetch(`${tg.proxy}${path}`, { headers: { authorization: basicAuth(DEMO.user, DEMO.password), connection: 'close' } });
  await res.arrayBuffer();
  return res.status;
}

describe('workers: 2, hot reload of migration.policies', () => {
  it('a deny policy written to the config file applies on both workers without a restart', async () => {
    expect(await basicStatus('/before')).toBe(200);
    const doc = parse(readFileSync(tg.configFile, 'utf8')) as Record<string, unknown>;
    doc.migration = { policies: [{ name: 'basic-off', forms: ['basic'], policy: 'deny', sunset: '2026-12-01' }] };
    const edited = performance.now();
    writeFileSync(tg.configFile, stringify(doc));
    // Denied on the next requests, whichever worker takes them.
    await waitFor(async () => (await basicStatus('/probe')) === 401, 5000, 20);
    const applied = performance.now() - edited;
    const from = tg.records.length;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push(await basicStatus(`/after-${i}`));
    expect(statuses).toEqual(Array(8).fill(401));
    // Both workers answered them (each access line carries its process's pid) with the denial.
    const denied = await waitFor(() => {
      const lines = tg.records.slice(from).filter((r) => typeof r.path === 'string' && r.path.startsWith('/after-') && r.err === 'TG_ERR_FORM_DENIED');
      return lines.length === 8 ? lines : undefined;
    }, 3000, 20);
    expect(new Set(denied!.map((r) => r.pid))).toEqual(new Set(tg.workerPids()));
    expect(applied).toBeLessThan(1000);
    // The primary serves the policies the workers apply: it follows the same file.
    const listed = await waitFor(async () => {
      const { policies } = await (await fetch(`${tg.admin}/admin/policies`, { headers: operatorAuth })).json() as { policies: unknown[] };
      return policies.length > 0 ? policies : undefined;
    }, 3000, 50);
    expect(listed).toEqual([{ name: 'basic-off', scheme: 'basic', policy: 'deny', sunset: '2026-12-01' }]);
    // The primary aggregates the workers' sunset gauge to the date itself, not their sum.
    expect(await metric(tg.admin, 'trackgate_policy_sunset_timestamp_seconds', { policy: 'basic-off', scheme: 'basic' })).toBe(Date.parse('2026-12-01') / 1000);
  });
});
