/**
 * Starting the servers of a benchmark run (upstream, trackgate, JWKS endpoint), sending single timed
 * requests, and measuring one scenario (warm-up, then N wrk runs with CPU and peak-RSS accounting).
 */
import { createServer, request, Agent } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  startServer, freePort, waitForPort, groupCpuSeconds, countInstructions, groupPeakRssMiB, groupRssMiB, resetPeakRss,
} from './procs.js';
import WebSocket from 'ws';
import { runWrk, writeScript } from './wrk.js';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CPU_LOAD = 0; // load generator and upstream
export const CPU_PROXY = 1; // the proxy under test, alone
/** Warm-up of the first scenario measured on a server process (JIT). */
export const FIRST_WARMUP_SECONDS = 4;
/** Uncounted load before an interleaved run on a server that was idle while others were measured. */
export const REWARM_SECONDS = 1;

/**
 * The runtime settings of the Dockerfile's final stage: glibc's `ENV MALLOC_…=…` and V8's `ENV NODE_OPTIONS=…`.
 * trackgate runs with them here as in the image, so its rows measure what a deployment gets.
 */
export const IMAGE_ENV = Object.fromEntries([...readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split(/^FROM /m).at(-1)
  .matchAll(/^ENV (MALLOC_[A-Z_]+|NODE_OPTIONS)=(\S+)$/gm)].map((m) => [m[1], m[2]]));

/** The node flags of the Dockerfile's final `ENTRYPOINT ["node", <flags…>, "bin/trackgate.js"]`, applied likewise. */
export const IMAGE_NODE_FLAGS = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split(/^FROM /m).at(-1))[1])
  .slice(1).filter((a) => a.startsWith('--'));

/** Starts bench/upstream.js pinned to the load CPU. */
export async function startUpstream(dir) {
  const port = await freePort();
  const proc = startServer('upstream', [process.execPath, join(ROOT, 'bench', 'upstream.js'), String(port)], {
    cpu: CPU_LOAD, logFile: join(dir, 'upstream.log'),
  });
  await waitForPort(port, { proc });
  return { name: 'upstream', port, pgid: proc.pid, proc };
}

/** Starts bench/bare-proxy.js (the platform floor: node:http + undici, nothing else) pinned to the proxy CPU. */
export async function startBareProxy(dir, upstreamPort) {
  const port = await freePort();
  const proc = startServer('bare-proxy', [process.execPath, join(ROOT, 'bench', 'bare-proxy.js'), String(port), `http://127.0.0.1:${upstreamPort}`], {
    cpu: CPU_PROXY, logFile: join(dir, 'bare-proxy.log'),
  });
  await waitForPort(port, { proc });
  return { name: 'bare-proxy', port, pgid: proc.pid, proc };
}

/** A tiny in-process HTTP server for the outside issuer's JWKS document. */
export async function startJwksServer(jwks) {
  const body = JSON.stringify(jwks);
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/jwks.json`, close: () => new Promise((r) => server.close(r)) };
}

/**
 * The config keys (form ids) of the session-token and Geoloqi OAuth forms in the build under `root`: the ids
 * changed once (`session-token` → `session_token`, `oauth-header` → `oauth`), and before/after comparisons
 * run builds from both sides of that change.
 */
export async function formIdsOf(root = ROOT) {
  const { AUTHENTICATORS } = await import(pathToFileURL(join(root, 'dist', 'authn', 'registry.js')).href);
  const ids = AUTHENTICATORS.map((m) => m.id);
  const find = (re, fallback) => ids.find((id) => re.test(id)) ?? fallback;
  return { session: find(/^session/, 'session_token'), oauth: find(/^oauth/, 'oauth') };
}

/** The trackgate config used by the bench; `overrides` are deep-merged. `formIds` from {@link formIdsOf}. */
export function trackgateConfig({ dir, port, adminPort, upstreamPort, jwksUrl, formIds = { session: 'session_token', oauth: 'oauth' } }, overrides = {}) {
  const base = {
    listen: `127.0.0.1:${port}`,
    admin: { listen: `127.0.0.1:${adminPort}` },
    upstream: { url: `http://127.0.0.1:${upstreamPort}` },
    store: { url: `sqlite:${join(dir, 'store.sqlite')}` },
    accountsFile: join(dir, 'accounts.yaml'),
    secretFile: join(dir, 'secret'),
    identity: { audience: 'bench-upstream' },
    authn: {
      basic: { enabled: true, realm: 'bench' },
      // Nonces must stay valid for a whole scenario (one nonce per wrk run, nc = 1, 2, 3, …).
      digest: { enabled: true, realm: 'bench', algorithms: ['SHA-256', 'MD5'], nonceTtlSeconds: 86400 },
      [formIds.session]: { enabled: true },
      [formIds.oauth]: { enabled: true },
      instance: { enabled: true },
      bearer: {
        enabled: true,
        external: { issuers: [{ issuer: 'https://idp.bench.invalid/', jwksUrl, audience: 'trackgate-bench', algorithms: ['ES256'] }] },
      },
    },
    // A positive entry outlives the whole run: no re-verification (a 50 ms scrypt) lands inside a measurement.
    cache: { ttlSeconds: 3600 },
    logging: { level: 'info', access: false },
    watch: false,
  };
  return merge(base, overrides);
}

function merge(a, b) {
  if (typeof a !== 'object' || a === null || Array.isArray(a) || typeof b !== 'object' || b === null || Array.isArray(b)) return b;
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in a ? merge(a[k], v) : v;
  return out;
}

/**
 * Starts `node bin/trackgate.js --config <file>` pinned to the proxy CPU, with its log (stdout: the access
 * log when on) in a file; resolves once /readyz answers 200. The image's settings apply (IMAGE_ENV,
 * IMAGE_NODE_FLAGS); `nodeFlags` come after the image's, so a V8 flag given there wins.
 */
export async function startTrackgate(name, ctx, overrides = {}, { nodeFlags = [], cwd, bin = join(ROOT, 'bin', 'trackgate.js'), cpu = CPU_PROXY, inspect = false } = {}) {
  const port = await freePort();
  const adminPort = await freePort();
  const config = trackgateConfig({ ...ctx, port, adminPort }, overrides);
  const file = join(ctx.dir, `${name}.yaml`);
  writeFileSync(file, JSON.stringify(config, null, 1));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TRACKGATE_')));
  env.NODE_ENV = 'production';
  Object.assign(env, IMAGE_ENV);
  // `inspect`: the V8 inspector on a loopback port, for liveHeapMiB (a full GC, then the heap in use).
  const inspectPort = inspect ? await freePort() : undefined;
  const flags = [...IMAGE_NODE_FLAGS, ...nodeFlags, ...(inspectPort === undefined ? [] : [`--inspect=127.0.0.1:${inspectPort}`])];
  const proc = startServer(name, [process.execPath, ...flags, bin, '--config', file], {
    cpu, logFile: join(ctx.dir, `${name}.log`), env, cwd: cwd ?? ctx.dir,
  });
  await waitForPort(port, { proc, timeoutMs: 30_000 });
  for (let i = 0; ; i++) {
    const r = await get(adminPort, '/readyz').catch(() => ({ status: 0 }));
    if (r.status === 200) break;
    if (i > 100 || proc.exited) throw new Error(`${name} not ready (see ${proc.logFile})`);
    await new Promise((res) => setTimeout(res, 100));
  }
  return { name, port, adminPort, pgid: proc.pid, proc, config, inspectPort };
}

const GET_TIMEOUT_MS = 30_000;

/** One GET; resolves `{ status, body, ms }`. */
export function get(port, path, headers = {}, agent = false) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = request({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers,
        ms: Number(process.hrtime.bigint() - t0) / 1e6,
      }));
    });
    req.on('error', reject);
    // A server that stopped answering fails the run with its name, instead of hanging the bench.
    req.setTimeout(GET_TIMEOUT_MS, () => req.destroy(new Error(`GET 127.0.0.1:${port}${path}: no answer in ${GET_TIMEOUT_MS / 1000} s`)));
    req.end();
  });
}

/** A trackgate Prometheus sample value (first series of that name). */
export async function metric(target, name) {
  const { body } = await get(target.adminPort, '/metrics');
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(body);
  return m ? Number(m[1]) : undefined;
}

/**
 * Calls per command served so far by the Redis on 127.0.0.1:`port` (`INFO commandstats`: `{ hgetall: n, … }`),
 * to show which scenarios reach Redis (this INFO itself is counted in `info`).
 */
export async function redisCalls(port) {
  const { Redis } = await import('ioredis');
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  try {
    await c.connect();
    const text = await c.info('commandstats');
    return Object.fromEntries([...text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
  } finally {
    c.disconnect();
  }
}

/**
 * First-request latency of each of `users` (a validation-cache miss: the password hash is verified), then
 * `warmCount` sequential requests of the first user (hits), each on an already open keep-alive connection.
 */
export async function coldWarm(target, path, users, headerOf, warmCount) {
  const cold = [];
  let warm = [];
  for (const [i, u] of users.entries()) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const open = await get(target.port, path, {}, agent); // opens the connection (401, no credentials)
      if (open.status !== 401) throw new Error(`expected 401 without credentials, got ${open.status}`);
      const first = await get(target.port, path, { authorization: headerOf(u) }, agent);
      if (first.status !== 200) throw new Error(`cold request for ${u.name}: status ${first.status} ${first.body}`);
      cold.push(first.ms);
      if (i === 0) {
        for (let k = 0; k < warmCount; k++) {
          const r = await get(target.port, path, { authorization: headerOf(u) }, agent);
          if (r.status !== 200) throw new Error(`warm request: status ${r.status}`);
          warm.push(r.ms);
        }
      }
    } finally {
      agent.destroy();
    }
  }
  warm = warm.sort((a, b) => a - b);
  return {
    coldMedian: median(cold), coldMax: Math.max(...cold), cold,
    warmMedian: median(warm), warmP99: warm[Math.min(warm.length - 1, Math.floor(warm.length * 0.99))],
  };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function substitute(spec, line) {
  const f = line.split('\t');
  const sub = (s) => s.replace(/\{(\d)\}/g, (_m, k) => f[Number(k) - 1]);
  return { path: sub(spec.path), headers: Object.fromEntries(Object.entries(spec.headers ?? {}).map(([k, v]) => [k, sub(v)])) };
}

/**
 * The live heap of a trackgate started with `inspect: true`, in MiB: a full garbage collection through the V8
 * inspector (`HeapProfiler.collectGarbage`), then `Runtime.getHeapUsage`. Exact, unlike reading `--trace-gc`
 * lines, whose last full GC may come at any point of a run, or not at all.
 */
export async function liveHeapMiB(target) {
  const list = JSON.parse((await get(target.inspectPort, '/json/list')).body);
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  let id = 0;
  const call = (method) => new Promise((resolve, reject) => {
    const my = ++id;
    const onMessage = (data) => {
      const msg = JSON.parse(String(data));
      if (msg.id !== my) return;
      ws.off('message', onMessage);
      if (msg.error) reject(new Error(`${method}: ${msg.error.message}`)); else resolve(msg.result);
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ id: my, method }));
  });
  try {
    await call('HeapProfiler.collectGarbage');
    const { usedSize } = await call('Runtime.getHeapUsage');
    return usedSize / 1048576;
  } finally {
    ws.close();
  }
}


/** Sends the scenario's first request once and checks it is admitted (and, for trackgate, carries an identity). */
export async function preflight(target, spec, expectIdentity) {
  let { path, headers } = spec;
  if (spec.data !== undefined) ({ path, headers } = substitute(spec, readFileSync(spec.data, 'utf8').split('\n')[0]));
  const r = await get(target.port, path, headers ?? {});
  if (r.status !== 200) throw new Error(`preflight ${target.name} ${path}: status ${r.status} ${r.body.slice(0, 200)}`);
  if (expectIdentity && !r.body.includes('"identity":true')) throw new Error(`preflight ${target.name}: upstream saw no identity header`);
}

/**
 * Measures one scenario against `target` (`{ name, port, pgid }`): preflight, warm-up, `runs` wrk runs.
 * `spec` is a request spec or `async (phase) => spec` (phase: 'check', 'warmup', 0, 1, …).
 */
export async function measure(ctx, target, sc) {
  const st = await prepareScenario(ctx, target, sc);
  const n = sc.runs ?? ctx.cfg.runs;
  for (let i = 0; i < n; i++) await runScenarioOnce(ctx, target, sc, st, i);
  return scenarioRow(target, sc, st);
}

/**
 * Measures several scenarios, possibly on different servers (all running), in rounds: every scenario is
 * prepared (preflight, warm-up) first, then each round gives every scenario one wrk run, in alternating order
 * (A B C, C B A, …). The medians of scenarios compared with each other (trackgate, nginx, the upstream direct)
 * then come from runs spread over the same minutes: this machine's speed drifts by 2× within minutes, which
 * measuring each scenario's runs back to back turns into differences between the scenarios.
 * `items`: `[{ target, sc }]`; returns one row per item, in order.
 */
export async function measureInterleaved(ctx, items) {
  const states = [];
  for (const { target, sc } of items) states.push(await prepareScenario(ctx, target, sc));
  const rounds = Math.max(...items.map(({ sc }) => sc.runs ?? ctx.cfg.runs));
  let last;
  for (let i = 0; i < rounds; i++) {
    const order = items.map((_, k) => k);
    if (i % 2 === 1) order.reverse();
    for (const k of order) {
      const { target, sc } = items[k];
      if (i >= (sc.runs ?? ctx.cfg.runs)) continue;
      // A server that sat idle while others were measured (half a minute and more) starts its next run cold
      // (measured: the first trackgate row of a round ran ~20 % slower than the same path later; likely V8
      // shrinking the idle heap and caches gone cold). One uncounted second of the same load first, for every
      // server alike.
      if (last !== undefined && last !== target) await wrkRun(ctx, target, sc, await states[k].specOf('warmup'), REWARM_SECONDS, `rewarm${i}`);
      last = target;
      await runScenarioOnce(ctx, target, sc, states[k], i, { resetPeak: true });
    }
  }
  return items.map(({ target, sc }, k) => scenarioRow(target, sc, states[k]));
}

/** A scenario's `spec` as a function of the phase (a spec object is the same for every phase). */
const specFunction = (spec) => (typeof spec === 'function' ? spec : async () => spec);

/**
 * `spec` at a fixed offered load: the measured runs carry `paceMs` (each wrk connection's mean think time, see
 * wrk.js); the preflight and the warm-ups stay unpaced (they check and warm the server up). A spec function is
 * asked for `(phase, { paced: true })` on measured runs, so it can size per-run request lists to the rate.
 */
export function pacedSpec(spec, paceMs) {
  const specOf = specFunction(spec);
  return async (phase) => (phase === 'warmup' || phase === 'check' ? specOf(phase) : { ...(await specOf(phase, { paced: true })), paceMs });
}

/** Preflight and warm-up of one scenario; returns the state its runs add to. */
async function prepareScenario(ctx, target, sc) {
  const specOf = specFunction(sc.spec);
  if (sc.preflight !== false) await preflight(target, await specOf('check'), sc.identity === true);
  const hwmReset = resetPeakRss(target.pgid);
  // A freshly started server's first scenario warms it up longer: V8 compiles trackgate's request path
  // (and undici's) only after some thousands of requests, and a sidecar is measured in its steady state.
  // Every server under test gets the same (nginx and Apache need none, but it costs them nothing).
  const first = target.warmed !== true;
  target.warmed = true;
  const warmup = Math.max(sc.warmupSeconds ?? ctx.cfg.warmup, first ? FIRST_WARMUP_SECONDS : 0);
  if (warmup > 0 && sc.warmup !== false) await wrkRun(ctx, target, sc, await specOf('warmup'), warmup, 'warmup');
  return { specOf, hwmReset, rssAfterWarmup: groupRssMiB(target.pgid), runs: [] };
}

function wrkRun(ctx, target, sc, spec, seconds, tag) {
  return runWrk({
    url: `http://127.0.0.1:${target.port}`, script: writeScript(ctx.dir, `${sc.id}-${tag}`, spec), seconds, connections: ctx.cfg.connections, cpu: CPU_LOAD,
  });
}

/** One measured wrk run of a prepared scenario. `resetPeak`: peak RSS of this run alone (the server is shared). */
async function runScenarioOnce(ctx, target, sc, st, i, { resetPeak = false } = {}) {
  const spec = await st.specOf(i);
  if (resetPeak) st.hwmReset = resetPeakRss(target.pgid) && st.hwmReset;
  const instr = countInstructions(target.pgid);
  const cpu0 = groupCpuSeconds(target.pgid);
  // A decision pair (bench/lib/edge.js) also reports trackgate's own part of the pair's CPU.
  const tg0 = target.trackgate === undefined ? undefined : groupCpuSeconds(target.trackgate.pgid);
  const w = await wrkRun(ctx, target, sc, spec, sc.seconds ?? ctx.cfg.seconds, `run${i}`);
  const cpu1 = groupCpuSeconds(target.pgid);
  const tg1 = target.trackgate === undefined ? undefined : groupCpuSeconds(target.trackgate.pgid);
  const instructions = await instr.stop();
  st.runs.push({
    ...w, cpuUs: ((cpu1 - cpu0) * 1e6) / Math.max(1, w.requests),
    trackgateCpuUs: tg0 === undefined ? undefined : ((tg1 - tg0) * 1e6) / Math.max(1, w.requests),
    kInstr: instructions === undefined ? undefined : instructions / 1000 / Math.max(1, w.requests), rss: groupRssMiB(target.pgid), hwm: groupPeakRssMiB(target.pgid),
    liveHeap: target.inspectPort === undefined ? undefined : await liveHeapMiB(target),
  });
}

/** The table row of a measured scenario (medians of its runs), also printed as a progress line. */
function scenarioRow(target, sc, st) {
  const { runs } = st;
  const row = {
    id: sc.id, label: sc.label, short: sc.short, group: sc.group, server: target.name, kind: sc.kind,
    rps: median(runs.map((r) => r.rps)), p50: median(runs.map((r) => r.p50)), p90: median(runs.map((r) => r.p90)), p99: median(runs.map((r) => r.p99)),
    max: median(runs.map((r) => r.max)),
    cpuUs: median(runs.map((r) => r.cpuUs)), trackgateCpuUs: runs[0].trackgateCpuUs === undefined ? undefined : median(runs.map((r) => r.trackgateCpuUs)),
    kInstr: runs[0].kInstr === undefined ? undefined : median(runs.map((r) => r.kInstr)), peakRss: Math.max(...runs.map((r) => r.hwm)),
    errors: runs.reduce((a, r) => a + r.errors, 0), requests: runs.reduce((a, r) => a + r.requests, 0),
    rssAfterWarmup: st.rssAfterWarmup, hwmReset: st.hwmReset, runs, note: sc.note,
  };
  const err = row.errors > 0 ? `  ⚠ ${row.errors} errors` : '';
  process.stderr.write(`  ${sc.label.padEnd(52)} ${row.rps.toFixed(0).padStart(7)} rps  p50 ${row.p50.toFixed(2)} ms  p99 ${row.p99.toFixed(2)} ms  cpu ${row.cpuUs.toFixed(1)} µs  ${row.kInstr === undefined ? '' : `${row.kInstr.toFixed(0)}k instr  `}rss ${row.peakRss.toFixed(0)} MiB${err}\n`);
  return row;
}
