/**
 * CPU profile of trackgate's hot path under wrk load: `node --cpu-prof` on trackgate (pinned like in the
 * bench), one scenario for PROFILE_SECONDS, then a summary of the top self-time functions.
 *
 *   npm run build && node bench/profile.js [scenario]     scenario: basic (default), cookie, query, bearer,
 *                                                          jwt, oauth, instance, digest, 64k, 1m, churn,
 *                                                          public (a public route: no credential form runs),
 *                                                          decision (Basic asked of decision.listen the way
 *                                                          nginx's auth_request asks: every request decided)
 *   PROFILE_SECONDS=10  PROFILE_OUT=<dir>  PROFILE_ACCESS_LOG=on|off (default off)
 */
import { mkdtempSync, chmodSync, readdirSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { installCleanup, killAll, TASKSET, groupCpuSeconds, freePort } from './lib/procs.js';
import { startUpstream, startJwksServer, startTrackgate, preflight, formIdsOf, CPU_LOAD } from './lib/harness.js';
import { writeAccounts, writeStore, externalIssuer, digestRun, basicHeader, USER, INSTANCE } from './lib/fixtures.js';
import { runWrk, writeScript } from './lib/wrk.js';
import { summarise } from './cpuprofile-top.js';

const scenario = process.argv[2] ?? 'basic';
const seconds = Number(process.env.PROFILE_SECONDS ?? 10);
const PATH = '/v2/positions?device=bench-device';

async function main() {
  installCleanup();
  if (TASKSET) spawnSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-profile-'));
  chmodSync(dir, 0o755);
  const out = resolve(process.env.PROFILE_OUT ?? join(dir, 'profile'));
  mkdirSync(out, { recursive: true });
  const acc = await writeAccounts(dir, { coldUsers: 0 });
  const tokensFile = join(dir, 'tokens.txt');
  const tokens = await writeStore(join(dir, 'store.sqlite'), { bulk: scenario === 'churn' ? 100_000 : 10, bulkFile: tokensFile });
  const ext = await externalIssuer();
  const jwks = await startJwksServer(ext.jwks);
  const upstream = await startUpstream(dir);
  const overrides = {
    logging: { access: process.env.PROFILE_ACCESS_LOG === 'on' },
    ...(scenario === 'churn' ? { cache: { maxEntries: 10_000 } } : {}),
    // No authentication at all: what trackgate's request path costs around the credential forms.
    ...(scenario === 'public' ? { routes: [{ path: '/v2', access: 'public' }] } : {}),
    ...(scenario === 'decision' ? { decision: { listen: `127.0.0.1:${await freePort()}` } } : {}),
  };
  const tg = await startTrackgate('trackgate-profile', { dir, upstreamPort: upstream.port, jwksUrl: jwks.url, formIds: await formIdsOf() }, overrides,
    { nodeFlags: ['--cpu-prof', '--cpu-prof-dir', out] });
  try {
    const A = (v) => ({ path: PATH, headers: { Authorization: v } });
    const specs = {
      basic: () => A(basicHeader(USER)),
      public: () => ({ path: PATH, headers: {} }),
      cookie: () => ({ path: PATH, headers: { Cookie: `lang=en; token=${tokens.sessionCookie}` } }),
      query: () => ({ path: `${PATH}&_token=${tokens.sessionQuery}` }),
      bearer: () => A(`Bearer ${tokens.bearer}`),
      jwt: () => A(`Bearer ${ext.token}`),
      oauth: () => A(`OAuth ${tokens.oauth}`),
      instance: () => ({ path: PATH, headers: { InstanceId: INSTANCE.id, InstanceKey: INSTANCE.key, DeviceToken: INSTANCE.deviceToken } }),
      '64k': () => ({ ...A(basicHeader(USER)), path: '/big/64k' }),
      '1m': () => ({ ...A(basicHeader(USER)), path: '/big/1m' }),
      churn: () => ({ path: `${PATH}&_token={1}`, data: tokensFile }),
      // What deploy/edge/nginx/trackgate-auth.conf's auth_request location sends (no body, X-Original-*).
      decision: () => ({ path: '/nginx', headers: { Authorization: basicHeader(USER), 'X-Original-Method': 'GET', 'X-Original-URI': PATH, 'X-Forwarded-Proto': 'http' } }),
      digest: async () => {
        const d = await digestRun({ port: tg.port, path: PATH, file: join(dir, 'digest.txt'), count: seconds * 40_000 + 20_000, ha1: acc.ha1, lead: 100 });
        return { path: PATH, headers: { Authorization: d.header }, data: d.file };
      },
    };
    if (!specs[scenario]) throw new Error(`unknown scenario ${scenario}; one of ${Object.keys(specs).join(', ')}`);
    const spec = await specs[scenario]();
    const port = scenario === 'decision' ? Number(tg.config.decision.listen.split(':').pop()) : tg.port;
    if (scenario !== 'digest') await preflight({ ...tg, port }, spec, !['64k', '1m', 'public', 'decision'].includes(scenario));
    const cpu0 = groupCpuSeconds(tg.pgid);
    const w = await runWrk({ url: `http://127.0.0.1:${port}`, script: writeScript(dir, `profile-${scenario}`, spec), seconds, connections: 50, cpu: CPU_LOAD });
    const cpu = groupCpuSeconds(tg.pgid) - cpu0;
    process.stdout.write(`${scenario}: ${w.rps.toFixed(0)} rps, p50 ${w.p50.toFixed(2)} ms, p99 ${w.p99.toFixed(2)} ms, ${((cpu * 1e6) / w.requests).toFixed(1)} CPU µs/req, errors ${w.errors}\n`);
  } finally {
    await tg.proc.stop(15_000); // SIGTERM: trackgate drains and exits; V8 writes the profile on exit
    await jwks.close();
    killAll();
  }
  const file = readdirSync(out).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(out, f)).pop();
  if (file === undefined) throw new Error(`no .cpuprofile written in ${out}`);
  process.stdout.write(`profile: ${file}\n\n${summarise(JSON.parse(readFileSync(file, 'utf8')), Number(process.env.PROFILE_TOP ?? 25))}`);
}

main().catch((err) => { process.stderr.write(`profile failed: ${err?.stack ?? err}\n`); killAll(); process.exitCode = 1; });
