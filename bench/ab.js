/**
 * Before/after comparison of two trackgate builds on a noisy machine: the builds take turns (A, B, A, B, …),
 * each round starting a fresh trackgate, warming it up and measuring every scenario, so slow phases of the
 * machine hit both alike. Reports the median rps and CPU µs/request of each build and B's change, and each
 * build's RSS at idle (1 s after it is ready, before any request) and peak RSS (VmHWM after the round).
 *
 *   node bench/ab.js <dirA> <dirB> [scenario,…]     dir: a checkout or copy holding bin/trackgate.js + dist/
 *   AB_ROUNDS=4  AB_SECONDS=4  AB_WARMUP=2  AB_ACCESS_LOG=on|off (off)
 *
 * Make a "before" copy first: mkdir /tmp/tg-before && cp -r dist bin package.json /tmp/tg-before/ &&
 * ln -s "$PWD/node_modules" /tmp/tg-before/node_modules
 */
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { installCleanup, killAll, TASKSET, groupCpuSeconds, groupPeakRssMiB, groupRssMiB } from './lib/procs.js';
import { startUpstream, startJwksServer, startTrackgate, preflight, median, formIdsOf, CPU_LOAD } from './lib/harness.js';
import { writeAccounts, writeStore, externalIssuer, digestRun, basicHeader, USER, INSTANCE, WEB_SERVICE_KEY } from './lib/fixtures.js';
import { runWrk, writeScript } from './lib/wrk.js';

const [dirA, dirB, list = 'basic,cookie,bearer,digest,64k'] = process.argv.slice(2);
if (!dirA || !dirB) { process.stderr.write('usage: node bench/ab.js <dirA> <dirB> [scenario,…]\n'); process.exit(2); }
const rounds = Number(process.env.AB_ROUNDS ?? 4);
const seconds = Number(process.env.AB_SECONDS ?? 4);
const warmup = Number(process.env.AB_WARMUP ?? 2);
const PATH = '/v2/positions?device=bench-device';

async function main() {
  installCleanup();
  if (TASKSET) spawnSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-ab-'));
  chmodSync(dir, 0o755);
  try {
    const acc = await writeAccounts(dir, { coldUsers: 0 });
    const tokensFile = join(dir, 'tokens.txt');
    const tokens = await writeStore(join(dir, 'store.sqlite'), { bulk: 100_000, bulkFile: tokensFile });
    const ext = await externalIssuer();
    const jwks = await startJwksServer(ext.jwks);
    const upstream = await startUpstream(dir);
    const A = (v) => ({ path: PATH, headers: { Authorization: v } });
    const specs = {
      basic: () => A(basicHeader(USER)),
      cookie: () => ({ path: PATH, headers: { Cookie: `lang=en; token=${tokens.sessionCookie}` } }),
      query: () => ({ path: `${PATH}&_token=${tokens.sessionQuery}` }),
      bearer: () => A(`Bearer ${tokens.bearer}`),
      jwt: () => A(`Bearer ${ext.token}`),
      oauth: () => A(`OAuth ${tokens.oauth}`),
      instance: () => ({ path: PATH, headers: { InstanceId: INSTANCE.id, InstanceKey: INSTANCE.key, DeviceToken: INSTANCE.deviceToken } }),
      '64k': () => ({ ...A(basicHeader(USER)), path: '/big/64k' }),
      '1m': () => ({ ...A(basicHeader(USER)), path: '/big/1m' }),
      churn: () => ({ path: `${PATH}&_token={1}`, data: tokensFile }),
      // A session token issued per request (one committed store write each), redirected with 303.
      login: () => ({ method: 'POST', path: '/rest/v2/token', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `key=${WEB_SERVICE_KEY}` }),
      digest: async (tg, tag) => {
        const d = await digestRun({ port: tg.port, path: PATH, file: join(dir, `digest-${tag}.txt`), count: (seconds + warmup) * 40_000 + 20_000, ha1: acc.ha1, lead: 100 });
        return { path: PATH, headers: { Authorization: d.header }, data: d.file };
      },
    };
    const names = list.split(',');
    for (const n of names) if (!specs[n]) throw new Error(`unknown scenario ${n}`);
    const results = { A: {}, B: {} };
    const memory = { A: [], B: [] };
    const builds = { A: resolve(dirA), B: resolve(dirB) };
    for (let r = 0; r < rounds; r++) {
      for (const which of r % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
        const tg = await startTrackgate(`ab-${which}`, { dir, upstreamPort: upstream.port, jwksUrl: jwks.url, formIds: await formIdsOf(builds[which]) },
          { logging: { access: process.env.AB_ACCESS_LOG === 'on' }, ...(names.includes('churn') ? { cache: { maxEntries: 10_000 } } : {}) },
          { bin: join(builds[which], 'bin', 'trackgate.js') });
        try {
          await new Promise((r) => setTimeout(r, 1000));
          const idleRss = groupRssMiB(tg.pgid);
          for (const n of names) {
            const url = `http://127.0.0.1:${tg.port}`;
            const spec = await specs[n](tg, `${which}${r}w`);
            if (n !== 'digest' && n !== 'churn' && n !== 'login') await preflight(tg, spec, !['64k', '1m'].includes(n));
            if (warmup > 0) await runWrk({ url, script: writeScript(dir, `ab-${n}-w`, spec), seconds: warmup, connections: 50, cpu: CPU_LOAD });
            const mspec = n === 'digest' ? await specs[n](tg, `${which}${r}m`) : spec;
            const c0 = groupCpuSeconds(tg.pgid);
            const w = await runWrk({ url, script: writeScript(dir, `ab-${n}`, mspec), seconds, connections: 50, cpu: CPU_LOAD });
            const cpuUs = ((groupCpuSeconds(tg.pgid) - c0) * 1e6) / w.requests;
            (results[which][n] ??= []).push({ rps: w.rps, cpuUs, p99: w.p99, errors: w.errors });
            process.stderr.write(`round ${r + 1} ${which} ${n.padEnd(8)} ${w.rps.toFixed(0).padStart(6)} rps ${cpuUs.toFixed(1).padStart(6)} µs/req p99 ${w.p99.toFixed(2)} ms${w.errors ? ` ERRORS ${w.errors}` : ''}\n`);
          }
          memory[which].push({ idleRss, peakRss: groupPeakRssMiB(tg.pgid) });
        } finally { await tg.proc.stop(); }
      }
    }
    process.stdout.write(`\nA = ${builds.A}\nB = ${builds.B}\n${rounds} rounds × ${seconds} s (medians)\n\n`);
    process.stdout.write(`${'scenario'.padEnd(10)} ${'A rps'.padStart(8)} ${'B rps'.padStart(8)} ${'Δrps'.padStart(7)}   ${'A µs/req'.padStart(9)} ${'B µs/req'.padStart(9)} ${'Δcpu'.padStart(7)}\n`);
    for (const n of names) {
      const a = results.A[n];
      const b = results.B[n];
      const ar = median(a.map((x) => x.rps));
      const br = median(b.map((x) => x.rps));
      const ac = median(a.map((x) => x.cpuUs));
      const bc = median(b.map((x) => x.cpuUs));
      process.stdout.write(`${n.padEnd(10)} ${ar.toFixed(0).padStart(8)} ${br.toFixed(0).padStart(8)} ${`${(((br / ar) - 1) * 100).toFixed(1)}%`.padStart(7)}   ${ac.toFixed(1).padStart(9)} ${bc.toFixed(1).padStart(9)} ${`${(((bc / ac) - 1) * 100).toFixed(1)}%`.padStart(7)}\n`);
    }
    const rss = (which, key) => median(memory[which].map((m) => m[key])).toFixed(1);
    process.stdout.write(`\nRSS MiB (median): idle A ${rss('A', 'idleRss')}, B ${rss('B', 'idleRss')}; peak A ${rss('A', 'peakRss')}, B ${rss('B', 'peakRss')}\n`);
    await jwks.close();
  } finally {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { process.stderr.write(`ab failed: ${err?.stack ?? err}\n`); killAll(); process.exitCode = 1; });
