/**
 * What each layer of a request costs, on one machine at one time: the platform floor (bench/bare-proxy.js:
 * node:http + undici, nothing else), trackgate on a public route (its whole request path but no credential form,
 * no validation cache, no identity header), and trackgate with Basic on a cache hit. All three servers run at
 * once, pinned to the proxy CPU one at a time under wrk, in alternating rounds (A B C, C B A, …), so the
 * machine's drift hits them alike. Prints the median rps and CPU µs/request of each and the differences.
 *
 *   npm run build && node bench/layers.js          LAYERS_ROUNDS=5  LAYERS_SECONDS=3
 */
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { installCleanup, killAll, TASKSET, groupCpuSeconds, startServer, freePort, waitForPort } from './lib/procs.js';
import { startUpstream, startJwksServer, startTrackgate, preflight, median, formIdsOf, ROOT, CPU_LOAD, CPU_PROXY } from './lib/harness.js';
import { writeAccounts, writeStore, externalIssuer, basicHeader, USER } from './lib/fixtures.js';
import { runWrk, writeScript } from './lib/wrk.js';

const rounds = Number(process.env.LAYERS_ROUNDS ?? 5);
const seconds = Number(process.env.LAYERS_SECONDS ?? 3);
const PATH = '/v2/positions?device=bench-device';

async function main() {
  installCleanup();
  if (TASKSET) spawnSync('taskset', ['-pc', String(CPU_LOAD), String(process.pid)], { stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-layers-'));
  chmodSync(dir, 0o755);
  try {
    await writeAccounts(dir, { coldUsers: 0 });
    await writeStore(join(dir, 'store.sqlite'), { bulk: 10, bulkFile: join(dir, 'tokens.txt') });
    const ext = await externalIssuer();
    const jwks = await startJwksServer(ext.jwks);
    const upstream = await startUpstream(dir);
    const ctx = { dir, upstreamPort: upstream.port, jwksUrl: jwks.url, formIds: await formIdsOf() };

    const barePort = await freePort();
    const bare = startServer('bare-proxy', [process.execPath, join(ROOT, 'bench', 'bare-proxy.js'), String(barePort), `http://127.0.0.1:${upstream.port}`], {
      cpu: CPU_PROXY, logFile: join(dir, 'bare-proxy.log'),
    });
    await waitForPort(barePort, { proc: bare });
    const pub = await startTrackgate('trackgate-public', ctx, { routes: [{ path: '/v2', access: 'public' }] });
    const basic = await startTrackgate('trackgate-basic', ctx, {});
    const layers = [
      { name: 'floor (node:http + undici)', port: barePort, pgid: bare.pid, spec: { path: PATH, headers: {} } },
      { name: 'trackgate, public route', port: pub.port, pgid: pub.pgid, spec: { path: PATH, headers: {} } },
      { name: 'trackgate, Basic cache hit', port: basic.port, pgid: basic.pgid, spec: { path: PATH, headers: { Authorization: basicHeader(USER) } }, identity: true },
    ];
    for (const l of layers) {
      if (l.name.startsWith('trackgate')) await preflight(l, l.spec, l.identity === true);
      l.script = writeScript(dir, l.name.replace(/\W+/g, '-'), l.spec);
      l.runs = [];
    }
    for (let round = 0; round <= rounds; round++) {
      for (const l of round % 2 ? [...layers].reverse() : layers) {
        const cpu0 = groupCpuSeconds(l.pgid);
        // Round 0 warms every server up (JIT) and is not counted.
        const w = await runWrk({ url: `http://127.0.0.1:${l.port}`, script: l.script, seconds: round === 0 ? 4 : seconds, connections: 50, cpu: CPU_LOAD });
        if (w.errors > 0) throw new Error(`${l.name}: ${w.errors} errors`);
        if (round > 0) l.runs.push({ rps: w.rps, us: ((groupCpuSeconds(l.pgid) - cpu0) * 1e6) / w.requests });
      }
      if (round > 0) process.stderr.write(`round ${round}/${rounds}\n`);
    }
    let prev;
    for (const l of layers) {
      const us = median(l.runs.map((r) => r.us));
      const rps = median(l.runs.map((r) => r.rps));
      const delta = prev === undefined ? '' : `  (+${(us - prev).toFixed(1)} µs over the row above)`;
      process.stdout.write(`${l.name.padEnd(28)} ${rps.toFixed(0).padStart(7)} rps  ${us.toFixed(1).padStart(6)} CPU µs/req${delta}   runs: ${l.runs.map((r) => r.us.toFixed(0)).join(' ')}\n`);
      prev = us;
    }
    await jwks.close();
  } finally {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { process.stderr.write(`layers failed: ${err?.stack ?? err}\n`); killAll(); process.exitCode = 1; });
