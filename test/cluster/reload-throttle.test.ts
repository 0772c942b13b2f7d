/**
 * With workers, the brute-force throttle lives in the primary (src/cluster/primary.ts): a hot reload that
 * lowers a limit must reach it too, not only the workers' configs. A real `trackgate` with `workers: 2` and
 * `watch: true`; the config file is edited and the next wrong password is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { startCluster, type ClusterProc } from '../helpers/cluster-process.js';
import { freePort } from '../helpers/ports.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
let up: RecordingUpstream;
let tg: ClusterProc;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-cluster-reload-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  up = await startRecordingUpstream();
  tg = await startCluster({
    dir, name: 'reload', config: {
      listen: `127.0.0.1:${await freePort()}`, admin: { listen: `127.0.0.1:${await freePort()}` }, upstream: { url: up.url },
      store: { url: `sqlite:${join(dir, 'store.sqlite')}` }, accountsFile: 'accounts.yaml',
      cache: { negativeTtlSeconds: 0 }, throttle: { user: { limit: 1000, windowSeconds: 3600 } },
      logging: { level: 'info' }, watch: true, workers: 2,
    },
  });
}, 30000);

afterAll(async () => {
  tg?.kill();
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function wrong(i: number): Promise<number> {
  const res = await fetch(`${tg.proxy}/x`, { headers: { authorization: basicAuth(DEMO.user, `wrong-${i}`), connection: 'close' } });
  await res.arrayBuffer();
  return res.status;
}

describe('workers: 2, hot reload of throttle limits', () => {
  it('a lowered throttle.user.limit applies in the primary\'s shared throttle', async () => {
    for (let i = 0; i < 4; i++) expect(await wrong(i)).toBe(401);
    const doc = parse(readFileSync(tg.configFile, 'utf8')) as { throttle: unknown };
    doc.throttle = { user: { limit: 3, windowSeconds: 3600 } };
    writeFileSync(tg.configFile, stringify(doc));
    // Both workers reload (each logs it); the primary follows the same file.
    await waitFor(() => tg.records.filter((r) => r.msg === 'configuration reloaded').length >= 2, 5000, 50);
    // At most ~50 attempts while polling: far below the old limit of 1000, so only the new limit can refuse.
    let n = 4;
    const refused = await waitFor(async () => (await wrong(n++)) === 429, 5000, 100);
    expect(refused).toBe(true);
    expect(n).toBeLessThan(100);
  });
});
