/**
 * What each layer of a request costs, on one machine at one time: the platform floor (bench/bare-proxy.js:
 * node:http + undici, nothing else), trackgate on a public route (its whole request path but no credential form,
 * no validation cache, no identity header), and trackgate with Basic on a cache hit. All three servers run at
 * once and are measured in interleaved rounds (harness.js measureInterleaved, as `npm run bench` measures its
 * comparison), so the machine's drift hits them alike. Prints the median rps, CPU µs/request and p50/p99 of each
 * and the CPU differences. LAYERS_PACED_RPS: at that fixed offered load instead of at saturation (each wrk
 * connection pausing between requests, as the bench's `@paced` rows). LAYERS_NODE_FLAGS: a fourth row, trackgate
 * Basic started with these Node flags, given after the image's NODE_OPTIONS and ENTRYPOINT flags that every
 * trackgate here runs with, so they win (e.g. `--max-semi-space-size=16`, Node's default young generation, or
 * `--heap-growing-percent=0`, V8's own old-generation growth).
 *
 *   npm run build && node bench/layers.js          LAYERS_ROUNDS=5  LAYERS_SECONDS=3  LAYERS_PACED_RPS=2000  LAYERS_NODE_FLAGS=…
 */
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { installCleanup, killAll, TASKSET } from './lib/procs.js';
import { startUpstream, startBareProxy, startJwksServer, startTrackgate, measureInterleaved, pacedSpec, formIdsOf, CPU_LOAD } from './lib/harness.js';
import { writeAccounts, writeStore, externalIssuer, basicHeader, USER } from './lib/fixtures.js';

const cfg = {
  runs: Number(process.env.LAYERS_ROUNDS ?? 5), seconds: Number(process.env.LAYERS_SECONDS ?? 3), warmup: 1, connections: 50,
};
const PATH = '/v2/positions?device=bench-device';
const pacedRps = Number(process.env.LAYERS_PACED_RPS ?? 0);
const nodeFlags = (process.env.LAYERS_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
/** Measured runs paced when LAYERS_PACED_RPS is set (warm-ups at full load). */
const paced = (spec) => (pacedRps > 0 ? pacedSpec(spec, (cfg.connections / pacedRps) * 1000) : spec);

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
    const bare = await startBareProxy(dir, upstream.port);
    const pub = await startTrackgate('trackgate-public', ctx, { routes: [{ path: '/v2', access: 'public' }] });
    const basic = await startTrackgate('trackgate-basic', ctx, {});
    // A second Basic server on other Node flags (after the image's, so they override them).
    const flagged = nodeFlags.length === 0 ? undefined : await startTrackgate('trackgate-flags', ctx, {}, { nodeFlags });
    const sc = (id, label, headers, more = {}) => ({ id, label, group: 'small', spec: paced({ path: PATH, headers }), ...more });
    const rows = await measureInterleaved({ cfg, dir }, [
      { target: bare, sc: sc('floor', 'floor (node:http + undici)', {}) },
      { target: pub, sc: sc('public', 'trackgate, public route', {}) },
      { target: basic, sc: sc('basic', 'trackgate, Basic cache hit', { Authorization: basicHeader(USER) }, { identity: true }) },
      ...(flagged === undefined ? [] : [{ target: flagged, sc: sc('flags', `Basic, ${nodeFlags.join(' ')}`, { Authorization: basicHeader(USER) }, { identity: true }) }]),
    ]);
    let prev;
    for (const r of rows) {
      const d = prev === undefined ? undefined : r.cpuUs - prev;
      const delta = d === undefined ? '' : `  (${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} µs against the row above)`;
      process.stdout.write(`${r.label.padEnd(28)} ${r.rps.toFixed(0).padStart(7)} rps  p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(2)} ms  ${r.cpuUs.toFixed(1).padStart(6)} CPU µs/req${delta}   runs: ${r.runs.map((x) => x.cpuUs.toFixed(0)).join(' ')}\n`);
      prev = r.cpuUs;
    }
    await jwks.close();
  } finally {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { process.stderr.write(`layers failed: ${err?.stack ?? err}\n`); killAll(); process.exitCode = 1; });
