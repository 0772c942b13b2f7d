/**
 * trackgate's own per-request work, without sockets: the real ProxyHandler of a real App (guard, route
 * rule, every enabled form's extract, validation cache, identity header, upstream headers, metrics,
 * access log) driven in-process with stub requests and a stub forwarder, so CPU time per request can be
 * compared before/after a change with far less noise than an end-to-end run on a busy machine. The HTTP
 * stack and undici (forward.ts) are not in this number; the end-to-end bench and bench/ab.js cover them.
 *
 *   npm run build && node bench/hotpath.js [form,…]   forms: basic, digest, query, cookie, bearer, jwt, oauth, instance
 *   HOTPATH_N=200000  HOTPATH_ROUNDS=5  HOTPATH_ACCESS_LOG=on|off (off)  HOTPATH_DIST=<dir holding dist/> (this checkout)
 *   HOTPATH_PROFILE=1: also write a .cpuprofile of the measured loop (node --cpu-prof style, via inspector)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';
import { ROOT, startJwksServer, trackgateConfig, median } from './lib/harness.js';
import { writeAccounts, writeStore, externalIssuer, basicHeader, USER, INSTANCE } from './lib/fixtures.js';
import { summarise } from './cpuprofile-top.js';

const distRoot = resolve(process.env.HOTPATH_DIST ?? ROOT);
const imp = (p) => import(pathToFileURL(join(distRoot, 'dist', p)).href);
const N = Number(process.env.HOTPATH_N ?? 200_000);
const ROUNDS = Number(process.env.HOTPATH_ROUNDS ?? 5);
const BATCH = 50; // requests in flight at once, like 50 connections
const forms = (process.argv[2] ?? 'basic,digest,query,cookie,bearer,jwt,oauth,instance').split(',');
const PATH = '/v2/positions?device=bench-device';

const md5 = (s) => createHash('md5').update(s, 'latin1').digest('hex');

/** A stub IncomingMessage: what the request path reads. */
function stubReq(url, headers) {
  const rawHeaders = [];
  const lower = {};
  for (const [k, v] of Object.entries({ Host: '127.0.0.1:8080', 'User-Agent': 'wrk', ...headers })) { rawHeaders.push(k, v); lower[k.toLowerCase()] = v; }
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

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-hotpath-'));
  const { validateConfig } = await imp('config/load.js');
  const { App } = await imp('app.js');
  const { ProxyHandler } = await imp('proxy/handler.js');
  const { createLogger } = await imp('observability/log.js');
  const { pino } = await import('pino');
  let app;
  let jwks;
  try {
    const acc = await writeAccounts(dir, { coldUsers: 0 });
    const tokens = await writeStore(join(dir, 'store.sqlite'), { bulk: 1, bulkFile: join(dir, 'tokens.txt') });
    const ext = await externalIssuer();
    jwks = await startJwksServer(ext.jwks);
    const config = trackgateConfig({ dir, port: 0, adminPort: 0, upstreamPort: 9, jwksUrl: jwks.url },
      { logging: { access: process.env.HOTPATH_ACCESS_LOG === 'on' } });
    writeFileSync(join(dir, 'hotpath.yaml'), JSON.stringify(config));
    const logger = createLogger({ level: 'info', destination: pino.destination({ dest: '/dev/null', sync: false }) });
    app = await App.create(validateConfig(config, join(dir, 'hotpath.yaml'), {}), { logger, defaultMetrics: false });
    let forwarded = 0;
    const forwarder = {
      async forward(_req, res) { forwarded++; res.writeHead(200, {}); res.end(); return { status: 200, upstreamSeconds: 0.0002 }; },
    };
    const handler = new ProxyHandler({ runtime: () => app.runtime, forwarder, minter: app.minter, metrics: app.metrics, logger: app.logger });

    // Digest: nc = 1, 2, 3, … on one nonce, one precomputed header per request.
    let digestHeaders;
    const digestFor = (count) => {
      const view = { method: 'GET', url: PATH, path: PATH, headers: {}, httpVersion: '1.1', secure: false, remoteAddress: '127.0.0.1', query: () => undefined, cookie: () => undefined };
      const ch = app.runtime.pipeline.challenges(view).find((c) => /^Digest /.test(c) && /algorithm=MD5/.test(c));
      const p = Object.fromEntries([...ch.matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]+))/g)].map((m) => [m[1], m[2] ?? m[3]]));
      const ha2 = md5(`GET:${PATH}`);
      return Array.from({ length: count }, (_, i) => {
        const nc = (i + 1).toString(16).padStart(8, '0');
        const response = md5(`${acc.ha1}:${p.nonce}:${nc}:cn0:auth:${ha2}`);
        return `Digest username="${USER.name}", realm="${p.realm}", nonce="${p.nonce}", uri="${PATH}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="cn0", response="${response}", opaque="${p.opaque}"`;
      });
    };
    const A = (v) => [PATH, { Authorization: v }];
    const requestOf = {
      basic: () => A(basicHeader(USER)),
      query: () => [`${PATH}&_token=${tokens.sessionQuery}`, {}],
      cookie: () => [PATH, { Cookie: `lang=en; token=${tokens.sessionCookie}` }],
      bearer: () => A(`Bearer ${tokens.bearer}`),
      jwt: () => A(`Bearer ${ext.token}`),
      oauth: () => A(`OAuth ${tokens.oauth}`),
      instance: () => [PATH, { InstanceId: INSTANCE.id, InstanceKey: INSTANCE.key, DeviceToken: INSTANCE.deviceToken }],
    };
    const runBatch = async (make, n) => {
      for (let i = 0; i < n; i += BATCH) {
        for (let k = 0; k < BATCH; k++) handler.handle(make(i + k), stubRes());
        await new Promise((r) => setImmediate(r));
      }
    };
    const session = process.env.HOTPATH_PROFILE === '1' ? new Session() : undefined;
    if (session) { session.connect(); await session.post('Profiler.enable'); }
    process.stdout.write(`trackgate hot path (no sockets), ${N} requests × ${ROUNDS} rounds, ${distRoot}, access log ${process.env.HOTPATH_ACCESS_LOG === 'on' ? 'on' : 'off'}\n`);
    for (const form of forms) {
      let make;
      if (form === 'digest') {
        digestHeaders = digestFor(N * (ROUNDS + 1) + BATCH);
        let j = 0;
        make = () => stubReq(PATH, { Authorization: digestHeaders[j++] });
      } else {
        const [url, headers] = requestOf[form]();
        make = () => stubReq(url, headers);
      }
      const before = forwarded;
      await runBatch(make, Math.min(N, 50_000)); // warm-up: JIT, cache fill
      if (forwarded - before < Math.min(N, 50_000)) throw new Error(`${form}: only ${forwarded - before} requests forwarded (rejected?)`);
      if (session && form === forms[0]) await session.post('Profiler.start');
      const us = [];
      for (let r = 0; r < ROUNDS; r++) {
        const t0 = process.cpuUsage();
        await runBatch(make, N);
        const d = process.cpuUsage(t0);
        us.push((d.user + d.system) / N);
      }
      process.stdout.write(`${form.padEnd(9)} ${median(us).toFixed(2).padStart(7)} µs/request  (rounds: ${us.map((x) => x.toFixed(2)).join(' ')})\n`);
    }
    if (session) {
      const { profile } = await session.post('Profiler.stop');
      const file = join(tmpdir(), `hotpath-${Date.now()}.cpuprofile`);
      writeFileSync(file, JSON.stringify(profile));
      process.stdout.write(`\nprofile (${forms[0]} … ${forms[forms.length - 1]}): ${file}\n${summarise(profile, Number(process.env.PROFILE_TOP ?? 30))}`);
    }
  } finally {
    await app?.close(0).catch(() => undefined);
    await jwks?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { process.stderr.write(`hotpath failed: ${err?.stack ?? err}\n`); process.exitCode = 1; });
