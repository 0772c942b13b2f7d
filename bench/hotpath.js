/**
 * trackgate's own per-request work, without sockets: the real ProxyHandler of a real App (guard, route
 * rule, every enabled form's extract, validation cache, identity header, upstream headers, metrics,
 * access log) driven in-process with stub requests and a stub forwarder. The HTTP stack and undici
 * (forward.ts) are not in this number; the end-to-end bench, bench/ab.js and bench/profile.js cover them.
 *
 * Several builds can be compared in one process: their rounds alternate (A B B A A B …), so a busy machine
 * slows them alike, which separate runs on this shared host cannot promise.
 *
 *   npm run build && node bench/hotpath.js [form,…]   forms: basic, digest, query, cookie, bearer, jwt, oauth, instance
 *   HOTPATH_DIST=<dir>[,<dir>…]   builds to measure (directories holding dist/; default: this checkout)
 *   HOTPATH_N=50000  HOTPATH_ROUNDS=6  HOTPATH_ACCESS_LOG=on|off (off)
 *   HOTPATH_PROFILE=1: also write a .cpuprofile of the measured loops of the first build and summarise it
 *   HOTPATH_ALLOC=1: sample allocations of the first build's first form; bytes per request by function
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';
import { ROOT, startJwksServer, trackgateConfig, formIdsOf, median } from './lib/harness.js';
import { writeAccounts, writeStore, externalIssuer, basicHeader, USER, INSTANCE } from './lib/fixtures.js';
import { summarise } from './cpuprofile-top.js';

const dists = (process.env.HOTPATH_DIST ?? ROOT).split(',').map((d) => resolve(d));
const N = Number(process.env.HOTPATH_N ?? 50_000);
const ROUNDS = Number(process.env.HOTPATH_ROUNDS ?? 6);
const BATCH = 50; // requests in flight at once, like 50 connections
const forms = (process.argv[2] ?? 'basic,digest,query,cookie,bearer,jwt,oauth,instance').split(',');
const PATH = '/v2/positions?device=bench-device';
const ACCESS = process.env.HOTPATH_ACCESS_LOG === 'on';

const md5 = (s) => createHash('md5').update(s, 'latin1').digest('hex');

/** A stub IncomingMessage: what the request path reads. */
function stubReq(url, headers) {
  const rawHeaders = [];
  const lower = {};
  for (const k in headers) { rawHeaders.push(k, headers[k]); lower[k.toLowerCase()] = headers[k]; }
  return {
    method: 'GET', url, headers: lower, rawHeaders, httpVersion: '1.1', httpVersionMajor: 1, httpVersionMinor: 1,
    socket: { remoteAddress: '127.0.0.1', encrypted: undefined },
  };
}

function stubRes() {
  return {
    statusCode: 200, headersSent: false, writableFinished: false,
    once() { return this; }, on() { return this; }, removeListener() { return this; },
    writeHead(s) { this.statusCode = s; this.headersSent = true; return this; }, setHeader() {}, end() { this.writableFinished = true; }, destroy() {},
  };
}

/** One build: its App and ProxyHandler, and a request maker per form. */
async function build(distRoot, ctx) {
  const imp = (p) => import(pathToFileURL(join(distRoot, 'dist', p)).href);
  // Builds before the config schema was assembled at the top export it from config/load.js.
  const { validateConfig } = await imp('config-schema.js').catch(() => imp('config/load.js'));
  const { App } = await imp('app.js');
  const { ProxyHandler } = await imp('proxy/handler.js');
  const { createLogger } = await imp('observability/log.js');
  const { pino } = await import('pino');
  const file = join(ctx.dir, `hotpath-${ctx.n++}.yaml`);
  const config = trackgateConfig({ ...ctx.where, formIds: await formIdsOf(distRoot) }, { logging: { access: ACCESS } });
  writeFileSync(file, JSON.stringify(config));
  const logger = createLogger({ level: 'info', destination: pino.destination({ dest: '/dev/null', sync: false }) });
  const app = await App.create(validateConfig(config, file, {}), { logger, defaultMetrics: false });
  const b = { distRoot, app, forwarded: 0 };
  const forwarder = {
    // Both forwarder APIs: a completion callback (current) and a returned promise (builds before it).
    forward(_req, res, _path, _headers, _body, done) {
      b.forwarded++;
      res.writeHead(200, {});
      res.end();
      const outcome = { status: 200, upstreamSeconds: 0.0002 };
      if (typeof done === 'function') { done(undefined, outcome); return undefined; }
      return Promise.resolve(outcome);
    },
  };
  const handler = new ProxyHandler({ runtime: () => app.runtime, forwarder, minter: app.minter, metrics: app.metrics, logger: app.logger });
  b.runBatch = async (make, n) => {
    for (let i = 0; i < n; i += BATCH) {
      for (let k = 0; k < BATCH; k++) handler.handle(make(), stubRes());
      await new Promise((r) => setImmediate(r));
    }
  };
  // Digest: nc = 1, 2, 3, … on one nonce of this app, one precomputed header per request.
  b.digestMaker = (count) => {
    const view = { method: 'GET', url: PATH, path: PATH, headers: {}, httpVersion: '1.1', secure: false, remoteAddress: '127.0.0.1', query: () => undefined, cookie: () => undefined };
    const ch = app.runtime.pipeline.challenges(view).find((c) => /^Digest /.test(c) && /algorithm=MD5/.test(c));
    const p = Object.fromEntries([...ch.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]+))/g)].map((m) => [m[1], m[2] ?? m[3]]));
    const ha2 = md5(`GET:${PATH}`);
    const list = Array.from({ length: count }, (_, i) => {
      const nc = (i + 1).toString(16).padStart(8, '0');
      const response = md5(`${ctx.ha1}:${p.nonce}:${nc}:cn0:auth:${ha2}`);
      return `Digest username="${USER.name}", realm="${p.realm}", nonce="${p.nonce}", uri="${PATH}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="cn0", response="${response}", opaque="${p.opaque}"`;
    });
    let j = 0;
    return () => stubReq(PATH, { Host: '127.0.0.1:8080', 'User-Agent': 'wrk', Authorization: list[j++] });
  };
  return b;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-hotpath-'));
  const builds = [];
  let jwks;
  try {
    const acc = await writeAccounts(dir, { coldUsers: 0 });
    const tokens = await writeStore(join(dir, 'store.sqlite'), { bulk: 1, bulkFile: join(dir, 'tokens.txt') });
    const ext = await externalIssuer();
    jwks = await startJwksServer(ext.jwks);
    const ctx = { dir, where: { dir, port: 0, adminPort: 0, upstreamPort: 9, jwksUrl: jwks.url }, ha1: acc.ha1, n: 0 };
    for (const d of dists) builds.push(await build(d, ctx));

    const base = { Host: '127.0.0.1:8080', 'User-Agent': 'wrk' };
    const A = (v) => [PATH, { ...base, Authorization: v }];
    const requestOf = {
      basic: () => A(basicHeader(USER)),
      query: () => [`${PATH}&_token=${tokens.sessionQuery}`, base],
      cookie: () => [PATH, { ...base, Cookie: `lang=en; token=${tokens.sessionCookie}` }],
      bearer: () => A(`Bearer ${tokens.bearer}`),
      jwt: () => A(`Bearer ${ext.token}`),
      oauth: () => A(`OAuth ${tokens.oauth}`),
      instance: () => [PATH, { ...base, InstanceId: INSTANCE.id, InstanceKey: INSTANCE.key, DeviceToken: INSTANCE.deviceToken }],
    };
    const session = process.env.HOTPATH_PROFILE === '1' ? new Session() : undefined;
    if (session) { session.connect(); await session.post('Profiler.enable'); }
    const alloc = process.env.HOTPATH_ALLOC === '1' ? new Session() : undefined;
    if (alloc) { alloc.connect(); await alloc.post('HeapProfiler.enable'); }
    const warm = Math.min(N, 50_000);
    process.stdout.write(`trackgate hot path (no sockets): ${N} requests × ${ROUNDS} rounds per build, access log ${ACCESS ? 'on' : 'off'}\n`);
    dists.forEach((d, i) => process.stdout.write(`  build ${String.fromCharCode(65 + i)}: ${d}\n`));
    let profiling = false;
    for (const form of forms) {
      const makers = builds.map((b) => {
        if (form === 'digest') return b.digestMaker(warm + N * ROUNDS + BATCH);
        const [url, headers] = requestOf[form]();
        return () => stubReq(url, headers);
      });
      for (const [i, b] of builds.entries()) {
        const before = b.forwarded;
        await b.runBatch(makers[i], warm); // JIT, cache fill
        if (b.forwarded - before < warm) throw new Error(`${form}: only ${b.forwarded - before} of ${warm} requests forwarded (rejected?)`);
      }
      if (session && !profiling) { await session.post('Profiler.start'); profiling = true; }
      if (alloc && form === forms[0]) {
        await alloc.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      }
      const us = builds.map(() => []);
      for (let r = 0; r < ROUNDS; r++) {
        const order = builds.map((_, i) => i);
        if (r % 2 === 1) order.reverse();
        for (const i of order) {
          if ((session || alloc) && i !== 0) continue;
          const t0 = process.cpuUsage();
          await builds[i].runBatch(makers[i], N);
          const d = process.cpuUsage(t0);
          us[i].push((d.user + d.system) / N);
        }
      }
      const line = builds.map((_, i) => (us[i].length ? `${String.fromCharCode(65 + i)} ${median(us[i]).toFixed(2).padStart(6)} µs` : '')).filter(Boolean).join('   ');
      const change = builds.length > 1 && us[1].length ? `   (B vs A ${(((median(us[1]) / median(us[0])) - 1) * 100).toFixed(1)}%)` : '';
      process.stdout.write(`${form.padEnd(9)} ${line}${change}\n`);
      if (alloc && form === forms[0]) allocReport((await alloc.post('HeapProfiler.stopSampling')).profile, N * ROUNDS);
    }
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      const file = join(tmpdir(), `hotpath-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      process.stdout.write(`\nprofile (build A, ${forms.join(', ')}): ${file}\n${summarise(profile, Number(process.env.PROFILE_TOP ?? 30))}`);
    }
  } finally {
    for (const b of builds) await b.app.close(0).catch(() => undefined);
    await jwks?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sampled bytes allocated per request, by allocating function (sampling adds CPU time: ignore µs then). */
function allocReport(profile, requests) {
  const by = new Map();
  const walk = (n) => {
    const cf = n.callFrame;
    const key = `${cf.functionName || '(anonymous)'}  ${cf.url.replace(/^.*\/(dist|bench|node_modules)\//, '$1/')}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    by.set(key, (by.get(key) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(profile.head);
  const total = [...by.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`\nallocated ≈ ${(total / requests).toFixed(0)} bytes/request (sampled; the stub requests of this harness included):\n`);
  for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 25)) process.stdout.write(`${(v / requests).toFixed(0).padStart(7)}  ${k}\n`);
}

main().catch((err) => { process.stderr.write(`hotpath failed: ${err?.stack ?? err}\n`); process.exitCode = 1; });
