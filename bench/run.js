/**
 * `npm run bench`: trackgate against the upstream reached directly, nginx and Apache httpd, on this machine.
 *
 * Starts a small Node upstream, trackgate (several configurations, one at a time), nginx and Apache (when
 * installed), a redis-server for the Redis-store rows (when installed), pins them with taskset when available
 * (upstream, wrk and redis-server on CPU 0, the server under test alone on CPU 1), drives each scenario with
 * `wrk -t1 -c50`, and writes the table of the last run to docs/PERFORMANCE.md. Every server is stopped at the
 * end, on error and on Ctrl-C (process groups).
 *
 * Environment:
 *   BENCH_QUICK=1            2 s × 1 run, 1 s warm-up, 2 cold users (~5 minutes; indicative only)
 *   BENCH_DURATION=5         seconds per wrk run          BENCH_RUNS=3     runs per scenario (median)
 *   BENCH_WARMUP=1           warm-up seconds (0: none)    BENCH_CONNECTIONS=50
 *   BENCH_ACCESS_LOG=off|on  access logging of the main trackgate (the other setting is measured too)
 *   BENCH_PACED_RPS=2000     offered load of the latency rows (`…@paced`: a fixed rate, not saturation)
 *   BENCH_ONLY=<regex>       only scenarios whose id matches (then the doc is not written unless BENCH_OUT is set)
 *   BENCH_OUT=<file>         where to write the Markdown (default docs/PERFORMANCE.md)
 *   BENCH_JSON=<file>        also write the raw results as JSON
 *   BENCH_KEEP=1             keep the temp dir (configs, logs, Lua scripts)
 */
import { mkdtempSync, chmodSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { installCleanup, killAll, have, TASKSET, startServer, freePort, waitForPort, groupCpuSeconds } from './lib/procs.js';
import {
  ROOT, CPU_LOAD, CPU_PROXY, FIRST_WARMUP_SECONDS, IMAGE_ENV, IMAGE_NODE_FLAGS, pacedSpec, startUpstream, startBareProxy, startJwksServer, startTrackgate, measure, measureInterleaved, coldWarm, metric, formIdsOf, redisCalls, get,
} from './lib/harness.js';
import {
  writeAccounts, writeStore, copyStoreToRedis, externalIssuer, digestRun, basicHeader, USER, BCRYPT_USER, INSTANCE,
} from './lib/fixtures.js';
import { nginxConfig, apacheConfig } from './lib/peers.js';
import { startDecisionEdge } from './lib/edge.js';
import { withRatios, textTable, markdownDoc, targets } from './lib/report.js';
import { parseAllDocuments } from 'yaml';

const env = process.env;
const quick = env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true';
const num = (v, d) => (v === undefined || v === '' ? d : Number(v));
const cfg = {
  quick,
  seconds: num(env.BENCH_DURATION, quick ? 2 : 5),
  runs: num(env.BENCH_RUNS, quick ? 1 : 3),
  warmup: num(env.BENCH_WARMUP, 1),
  connections: num(env.BENCH_CONNECTIONS, 50),
  coldUsers: quick ? 2 : 5,
  warmCount: quick ? 100 : 300,
  accessLog: (env.BENCH_ACCESS_LOG ?? 'off') === 'on',
  pacedRps: num(env.BENCH_PACED_RPS, 2000),
  only: env.BENCH_ONLY ? new RegExp(env.BENCH_ONLY) : undefined,
  out: env.BENCH_OUT ?? (env.BENCH_ONLY ? undefined : join(ROOT, 'docs', 'PERFORMANCE.md')),
};
const CHURN_TOKENS = 100_000;
const SMALL_PATH = '/v2/positions?device=bench-device';
const wanted = (id) => cfg.only === undefined || cfg.only.test(id);
/**
 * Rows measured a second time at a fixed offered load (`<id>@paced`, cfg.pacedRps over the same connections):
 * the latency a proxy adds to a request when it is not saturated. At saturation (the main rows) every proxy's
 * p50 and p99 are mostly the queue of 50 connections waiting for a CPU that is full, i.e. its throughput again.
 */
const PACED = new Set(['direct-small', 'bare-small', 'nginx-noauth-small', 'nginx-apr1', 'apache-digest',
  'tg-basic', 'tg-digest', 'tg-query', 'tg-cookie', 'tg-bearer', 'tg-jwt', 'tg-oauth', 'tg-instance']);
const pacedId = (id) => `${id}@paced`;
/** Whether a row, or its paced twin, is selected (then its server must run). */
const wantedAny = (id) => wanted(id) || (PACED.has(id) && wanted(pacedId(id)));
/** Decisions a trackgate answered so far, by credential scheme (`trackgate_decisions_total`, summed per `scheme`). */
async function decisionsByScheme(tg) {
  const { body } = await get(tg.adminPort, '/metrics');
  const out = {};
  for (const m of body.matchAll(/^trackgate_decisions_total\{([^}]*)\} ([0-9.e+-]+)$/gm)) {
    const scheme = /scheme="([^"]*)"/.exec(m[1])?.[1] ?? '?';
    out[scheme] = (out[scheme] ?? 0) + Number(m[2]);
  }
  return out;
}
/** `{ hgetall: 3, ping: 1 }` → "3 HGETALL, 1 PING" ("no command" when empty). */
const callList = (calls) => Object.entries(calls ?? {}).map(([k, n]) => `${n} ${k.toUpperCase()}`).join(', ') || 'no command';

function version(argv, re) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const m = re.exec(text);
  return r.status === 0 || m ? (m ? m[1] : text.trim().split('\n')[0]) : 'not installed';
}

/** The trackgate container's memory limit in k8s/base/trackgate-sidecar.yaml, in MiB (undefined when it cannot be read). */
function k8sMemoryLimitMiB() {
  try {
    const pod = parseAllDocuments(readFileSync(join(ROOT, 'k8s', 'base', 'trackgate-sidecar.yaml'), 'utf8')).map((d) => d.toJS()).find((d) => d?.kind === 'Deployment')?.spec.template.spec;
    const q = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])].find((c) => c.name === 'trackgate')?.resources?.limits?.memory;
    const m = /^(\d+)(Mi|Gi)$/.exec(q ?? '');
    return m ? Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1) : undefined;
  } catch {
    return undefined;
  }
}

function machine({ redis = false } = {}) {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return {
    cpu: model,
    cores: `${cpus().length} (nproc --all: ${spawnSync('nproc', ['--all'], { encoding: 'utf8' }).stdout.trim() || '?'})`,
    kernel: spawnSync('uname', ['-sr'], { encoding: 'utf8' }).stdout.trim(),
    node: process.version,
    nginx: have('nginx') ? version(['nginx', '-v'], /nginx version: (\S+)/) : 'not installed',
    apache: have('apache2') ? version(['apache2', '-v'], /Server version: (.+)/) : 'not installed',
    wrk: have('wrk') ? version(['wrk', '-v'], /^(wrk \S+)/m) : 'not installed',
    pinning: TASKSET ? `taskset: upstream, wrk${redis ? ', redis-server (Redis store rows)' : ''} and this script on CPU 0; the server under test alone on CPU 1` : 'none (taskset not available): numbers include scheduler noise',
  };
}

async function main() {
  installCleanup();
  if (!have('wrk')) throw new Error('wrk is required (apt-get install wrk)');
  if (TASKSET) spawnSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });
  const started = Date.now();
  const loadAtStart = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-bench-'));
  chmodSync(dir, 0o755); // peers' workers (www-data) read the password files
  process.stderr.write(`trackgate bench: ${cfg.seconds} s × ${cfg.runs} run(s), ${cfg.connections} connections, temp dir ${dir}\n`);
  const rows = [];
  const cold = [];
  const extra = {};
  const notes = [];
  const ctx = { cfg, dir };
  let jwksServer;
  try {
    // Fixtures.
    const acc = await writeAccounts(dir, { coldUsers: cfg.coldUsers });
    const tokensFile = join(dir, 'churn-tokens.txt');
    const tokens = await writeStore(join(dir, 'store.sqlite'), { bulk: CHURN_TOKENS, bulkFile: tokensFile });
    const ext = await externalIssuer();
    jwksServer = await startJwksServer(ext.jwks);
    const upstream = await startUpstream(dir);
    const tgCtx = { dir, upstreamPort: upstream.port, jwksUrl: jwksServer.url, formIds: await formIdsOf(ROOT) };
    const small = (id, label, spec, more = {}) => ({ id, label, group: 'small', spec: { path: SMALL_PATH, ...spec }, ...more });
    const bodies = (prefix, label, headers, more = {}) => [
      small(`${prefix}-small`, `${label}, ~300 B`, { headers }, more),
      { id: `${prefix}-64k`, label: `${label}, 64 KiB`, group: '64k', spec: { path: '/big/64k', headers }, ...more },
      { id: `${prefix}-1m`, label: `${label}, 1 MiB`, group: '1m', spec: { path: '/big/1m', headers }, ...more },
    ];
    const measureAll = async (target, list) => {
      for (const sc of list) if (wanted(sc.id)) rows.push(await measure(ctx, target, sc));
    };
    // `paced`: a paced run needs only its offered rate's worth of requests (a smaller Lua table in wrk).
    const digestSpec = (port, tag) => async (phase, { paced = false } = {}) => {
      const perSecond = paced ? Math.ceil(cfg.pacedRps * 1.5) : 40_000;
      const count = Math.ceil((phase === 'warmup' ? Math.max(cfg.warmup, FIRST_WARMUP_SECONDS) : cfg.seconds) * perSecond) + (paced ? 1_000 : 20_000);
      const d = await digestRun({
        port, path: SMALL_PATH, file: join(dir, `digest-${tag}-${phase}${paced ? '-paced' : ''}.txt`), count: phase === 'check' ? 2 : count, ha1: acc.ha1,
        lead: phase === 'check' ? 0 : 2 * cfg.connections,
      });
      return { path: SMALL_PATH, headers: { Authorization: d.header }, data: d.file };
    };

    const mainLog = cfg.accessLog;
    const logWord = (on) => (on ? 'access log on' : 'access log off');

    // 1–4: the comparison itself. Every server of these rows runs at once (idle while another is measured) and
    // the rows are measured in interleaved rounds (harness.js measureInterleaved): the upstream reached directly,
    // the platform floor, nginx, Apache and trackgate's main configuration each get one run per round.
    const core = []; // [{ target, sc }] in table order
    const paceMs = (cfg.connections / cfg.pacedRps) * 1000;
    // The paced twin of a row: the same requests, each connection pausing paceMs on average before each one.
    const pacedScenario = (sc) => ({ ...sc, id: pacedId(sc.id), group: 'paced', spec: pacedSpec(sc.spec, paceMs) });
    const add = (target, list) => {
      for (const sc of list) {
        if (wanted(sc.id)) core.push({ target, sc });
        if (PACED.has(sc.id) && wanted(pacedId(sc.id))) core.push({ target, sc: pacedScenario(sc) });
      }
    };
    const servers = [];
    const edges = []; // the decision-mode stacks: [{ edge, cached }]
    try {
      // 1. The upstream reached directly.
      add(upstream, bodies('direct', 'direct (upstream, no proxy)', {}));

      // 1b. The platform floor: node:http + undici with nothing else (bench/bare-proxy.js).
      const bareList = bodies('bare', 'floor: node:http + undici Pool.dispatch, no auth', {}).slice(0, 2);
      if (bareList.some((sc) => wantedAny(sc.id))) {
        const bare = await startBareProxy(dir, upstream.port);
        servers.push(bare.proc);
        add(bare, bareList);
      }

      // 2. nginx.
      const nginxIds = ['nginx-noauth-small', 'nginx-noauth-64k', 'nginx-noauth-1m', 'nginx-apr1', 'nginx-bcrypt'];
      if (have('nginx') && nginxIds.some(wantedAny)) {
        const ports = { noauth: await freePort(), apr1: await freePort(), bcrypt: await freePort() };
        const conf = await nginxConfig(dir, { upstreamPort: upstream.port, ports });
        const proc = startServer('nginx', conf.argv, { cpu: CPU_PROXY, logFile: join(dir, 'nginx', 'stdout.log') });
        servers.push(proc);
        await waitForPort(ports.bcrypt, { proc });
        const t = (port) => ({ name: 'nginx', port, pgid: proc.pid });
        add(t(ports.noauth), bodies('nginx-noauth', 'nginx, no auth', {}));
        add(t(ports.apr1), [small('nginx-apr1', 'nginx auth_basic apr1 (htpasswd -m)', { headers: { Authorization: basicHeader(USER) } })]);
        add(t(ports.bcrypt), [small('nginx-bcrypt', 'nginx auth_basic bcrypt cost 5 (htpasswd -B -C 5)', { headers: { Authorization: basicHeader(BCRYPT_USER) } })]);
      } else if (!have('nginx')) {
        notes.push('nginx is not installed: the nginx rows, the ×nginx column and the nginx targets are missing.');
      }

      // 3. Apache httpd.
      if (have('apache2') && ['apache-noauth', 'apache-digest'].some(wantedAny)) {
        const ports = { digest: await freePort(), noauth: await freePort() };
        const conf = await apacheConfig(dir, { upstreamPort: upstream.port, ports });
        const proc = startServer('apache2', conf.argv, { cpu: CPU_PROXY, logFile: join(dir, 'apache', 'stdout.log') });
        servers.push(proc);
        await waitForPort(ports.digest, { proc });
        await waitForPort(ports.noauth, { proc });
        const t = (port) => ({ name: 'apache2', port, pgid: proc.pid });
        add(t(ports.noauth), [small('apache-noauth', 'Apache event + mod_proxy, no auth (reference)', {})]);
        add(t(ports.digest), [small('apache-digest', 'Apache event + mod_auth_digest + mod_proxy', {}, { spec: digestSpec(ports.digest, 'apache'), preflight: true })]);
      } else if (!have('apache2')) {
        notes.push('Apache httpd is not installed: the Digest comparison is missing.');
      }

      // 4. trackgate, main configuration: every credential form on a cache hit, and large bodies.
      const mainIds = ['tg-cold', 'tg-basic', 'tg-digest', 'tg-query', 'tg-cookie', 'tg-bearer', 'tg-jwt', 'tg-oauth', 'tg-instance', 'tg-bcrypt', 'tg-64k', 'tg-1m'];
      if (mainIds.some(wantedAny)) {
        const main = await startTrackgate('trackgate-main', tgCtx, { logging: { access: mainLog } });
        servers.push(main.proc);
        if (wanted('tg-cold')) {
          // Single requests on an idle server, before any load.
          const scryptCw = await coldWarm(main, SMALL_PATH, acc.cold, basicHeader, cfg.warmCount);
          cold.push({ label: 'Basic, scrypt hash (ln=14, r=8, p=1)', ...scryptCw });
          const bcryptCw = await coldWarm(main, SMALL_PATH, acc.coldBcrypt, basicHeader, cfg.warmCount);
          cold.push({ label: 'Basic, bcrypt hash ($2y$, cost 5)', ...bcryptCw });
          process.stderr.write(`  Basic scrypt: cold ${scryptCw.coldMedian.toFixed(1)} ms, warm ${scryptCw.warmMedian.toFixed(3)} ms; bcrypt: cold ${bcryptCw.coldMedian.toFixed(1)} ms\n`);
        }
        const form = (id, short, label, spec, more = {}) => small(id, `trackgate ${label}`, spec, { kind: 'form', identity: true, short, ...more });
        const A = (v) => ({ headers: { Authorization: v } });
        add(main, [
          form('tg-basic', 'Basic', 'Basic (cache hit)', A(basicHeader(USER))),
          form('tg-digest', 'Digest', 'Digest MD5, nc increasing (never cached)', {}, { spec: digestSpec(main.port, 'tg') }),
          form('tg-query', '_token', '`_token` query (cache hit)', { path: `${SMALL_PATH}&_token=${tokens.sessionQuery}` }),
          form('tg-cookie', 'cookie', '`token` cookie (cache hit)', { headers: { Cookie: `lang=en; token=${tokens.sessionCookie}` } }),
          form('tg-bearer', 'Bearer', 'Bearer, self-issued token (cache hit)', A(`Bearer ${tokens.bearer}`)),
          form('tg-jwt', 'JWT', 'Bearer, external JWKS JWT ES256 (cache hit)', A(`Bearer ${ext.token}`)),
          form('tg-oauth', 'OAuth', '`Authorization: OAuth` (cache hit)', A(`OAuth ${tokens.oauth}`)),
          form('tg-instance', 'Instance', 'InstanceId/InstanceKey/DeviceToken (cache hit)', { headers: { InstanceId: INSTANCE.id, InstanceKey: INSTANCE.key, DeviceToken: INSTANCE.deviceToken } }),
          form('tg-bcrypt', 'bcrypt user', 'Basic, bcrypt-hashed user (cache hit)', A(basicHeader(BCRYPT_USER))),
          { id: 'tg-64k', label: 'trackgate Basic, 64 KiB', group: '64k', spec: { path: '/big/64k', ...A(basicHeader(USER)) }, identity: false },
          { id: 'tg-1m', label: 'trackgate Basic, 1 MiB', group: '1m', spec: { path: '/big/1m', ...A(basicHeader(USER)) }, identity: false },
        ]);
      }
      // 4b. Decision mode: nginx with deploy/edge/nginx/trackgate-auth.conf in front of a trackgate with
      // `decision.listen` (bench/lib/edge.js), both on the proxy CPU. With the default decision.maxAgeSeconds nginx
      // caches the allowing answers (Basic, Bearer, `_token`; Digest is no-store, asked every request); with 0
      // nothing is cacheable and every request is a decision: compared with the sidecar's row of the same credential.
      const edgeCached = ['edge-basic', 'edge-bearer', 'edge-query', 'edge-digest', 'edge-64k', 'edge-1m'];
      const edgeLabel = (what) => `nginx + trackgate decisions, ${what} [${logWord(mainLog)}]`;
      const decision = (id, short, what, spec, more = {}) => small(id, edgeLabel(what), spec, { kind: 'decision', identity: true, short, ...more });
      if (have('nginx') && edgeCached.some(wantedAny)) {
        const edge = await startDecisionEdge('decision', tgCtx, { logging: { access: mainLog } });
        servers.push(...edge.procs);
        edges.push({ edge, cached: true });
        const A = (v) => ({ headers: { Authorization: v } });
        add(edge, [
          decision('edge-basic', 'Basic', 'Basic (decision cached by nginx)', A(basicHeader(USER))),
          decision('edge-bearer', 'Bearer', 'Bearer, self-issued token (decision cached by nginx)', A(`Bearer ${tokens.bearer}`)),
          decision('edge-query', '_token', '`_token` query (decision cached by nginx)', { path: `${SMALL_PATH}&_token=${tokens.sessionQuery}` }),
          small('edge-digest', edgeLabel('Digest MD5, nc increasing (no-store: a decision per request)'), {}, { identity: true, spec: digestSpec(edge.port, 'edge'), preflight: true }),
          { id: 'edge-64k', label: edgeLabel('Basic (cached), 64 KiB'), group: '64k', spec: { path: '/big/64k', ...A(basicHeader(USER)) }, identity: false },
          { id: 'edge-1m', label: edgeLabel('Basic (cached), 1 MiB'), group: '1m', spec: { path: '/big/1m', ...A(basicHeader(USER)) }, identity: false },
        ]);
      }
      if (have('nginx') && wantedAny('edge-nocache-basic')) {
        const edge = await startDecisionEdge('decision-nocache', tgCtx, { logging: { access: mainLog }, decision: { maxAgeSeconds: 0 } });
        servers.push(...edge.procs);
        edges.push({ edge, cached: false });
        add(edge, [small('edge-nocache-basic', edgeLabel('Basic, `decision.maxAgeSeconds: 0` (no-store: a decision per request)'), { headers: { Authorization: basicHeader(USER) } }, { identity: true })]);
      }
      // Three blocks: the ~300 B rows, then the 64 KiB and 1 MiB ones (so the small rows' peak RSS is not that of a
      // process that has just relayed 1 MiB bodies), then the paced rows. Rows stay in table order.
      const blocks = [['small'], ['64k', '1m'], ['paced']].map((groups) => core.filter((c) => groups.includes(c.sc.group)));
      for (const block of blocks) {
        if (block.length === 0) continue;
        process.stderr.write(`interleaved: ${block.length} scenarios × ${cfg.runs} round(s)${block[0].sc.group === 'paced' ? `, paced at ${cfg.pacedRps} rps` : ''}\n`);
        rows.push(...await measureInterleaved(ctx, block));
      }
      const order = new Map(core.map((c, i) => [c.sc.id, i]));
      rows.sort((a, b) => order.get(a.id) - order.get(b.id));
      // How often nginx asked trackgate: the proof that the cached rows were served from nginx's cache.
      for (const { edge, cached } of edges) {
        const served = rows.filter((r) => r.server === edge.name).reduce((a, r) => a + r.requests, 0);
        (extra.edgeDecisions ??= []).push({ cached, decisions: await decisionsByScheme(edge.trackgate), served });
      }
    } finally {
      for (const proc of servers.reverse()) await proc.stop();
    }
    for (const r of rows) if (r.server === 'trackgate-main' && r.id !== 'tg-64k' && r.id !== 'tg-1m') r.label += ` [${logWord(mainLog)}]`;

    // 5. The other access-log setting.
    const logList = [
      small('tg-basic-log', `trackgate Basic (cache hit) [${logWord(!mainLog)}]`, { headers: { Authorization: basicHeader(USER) } }, { identity: true }),
      small('tg-cookie-log', `trackgate \`token\` cookie (cache hit) [${logWord(!mainLog)}]`, { headers: { Cookie: `lang=en; token=${tokens.sessionCookie}` } }, { identity: true }),
    ];
    if (logList.some((s) => wanted(s.id))) {
      const tg = await startTrackgate('trackgate-log', tgCtx, { logging: { access: !mainLog } });
      try {
        process.stderr.write(`trackgate (${logWord(!mainLog)})\n`);
        await measureAll(tg, logList);
      } finally { await tg.proc.stop(); }
    }

    // 6. Request-bound identity headers (one signature per request).
    if (wanted('tg-bound')) {
      const tg = await startTrackgate('trackgate-bound', tgCtx, { logging: { access: mainLog }, identity: { bindToRequest: true } });
      try {
        process.stderr.write('trackgate (identity.bindToRequest: true)\n');
        await measureAll(tg, [small('tg-bound', `trackgate Basic, bindToRequest: true [${logWord(mainLog)}]`, { headers: { Authorization: basicHeader(USER) } }, { identity: true })]);
      } finally { await tg.proc.stop(); }
    }

    // 6b. The inventory's cost: the same Basic cache-hit scenario on two trackgates, `inventory.enabled` false and
    // true (the default), measured in interleaved rounds so that both rows see the same machine.
    const inventoryRows = [
      { name: 'trackgate-inventory-off', enabled: false, sc: small('tg-inventory-off', `trackgate Basic (cache hit), inventory off [${logWord(mainLog)}]`, { headers: { Authorization: basicHeader(USER) } }, { identity: true }) },
      { name: 'trackgate-inventory-on', enabled: true, sc: small('tg-inventory-on', `trackgate Basic (cache hit), inventory on [${logWord(mainLog)}]`, { headers: { Authorization: basicHeader(USER) } }, { identity: true }) },
    ].filter((r) => wanted(r.sc.id));
    if (inventoryRows.length > 0) {
      const started = [];
      try {
        for (const r of inventoryRows) started.push({ target: await startTrackgate(r.name, tgCtx, { logging: { access: mainLog }, inventory: { enabled: r.enabled } }), sc: r.sc });
        process.stderr.write('trackgate (inventory.enabled false / true, interleaved)\n');
        rows.push(...await measureInterleaved(ctx, started));
      } finally {
        for (const { target } of started.reverse()) await target.proc.stop();
      }
    }

    const cacheEvents = (tg, event) => metric(tg, `trackgate_validation_cache_events_total\\{event="${event}"\\}`);
    // The churn tokens, each wrk run (warm-up, runs) going on from where the scenario's requests so far stopped
    // (trackgate's hit + miss count, plus one token per connection for requests in flight): a run restarting at the
    // first token would ask again for the previous run's tokens, still cached when that run made fewer requests
    // than the cache holds (a short warm-up), and the row would measure hits. Continued, the cycle over 100k
    // tokens through a 10k LRU misses on every request.
    let churnValues;
    const continuedTokens = (tg, tag) => async (phase) => {
      const served = ((await cacheEvents(tg, 'miss')) ?? 0) + ((await cacheEvents(tg, 'hit')) ?? 0);
      if (served === 0) return tokenLines;
      churnValues ??= readFileSync(tokensFile, 'utf8').split('\n').filter((v) => v !== '');
      const from = (served + cfg.connections) % churnValues.length;
      const file = join(dir, `churn-tokens-${tag}-${phase}.txt`);
      writeFileSync(file, `${[...churnValues.slice(from), ...churnValues.slice(0, from)].join('\n')}\n`);
      return { ...tokenLines, data: file };
    };
    // 7. Churn: 100,000 distinct session tokens cycling through a cache of 10,000 (every request a miss).
    const tokenLines = { path: `${SMALL_PATH}&_token={1}`, data: tokensFile };
    if (wanted('tg-churn')) {
      // inspect: after each run, a full GC and the live heap show whether memory is flat (RSS alone
      // follows V8's heap growth and collection timing).
      const tg = await startTrackgate('trackgate-churn', tgCtx, { logging: { access: mainLog }, cache: { maxEntries: 10_000 } }, { inspect: true });
      try {
        process.stderr.write('trackgate (cache.maxEntries 10000, 100k tokens)\n');
        // A longer warm-up: the 10k validation cache and the 10k identity-header cache fill and the heap settles
        // before the live heap is compared across runs.
        await measureAll(tg, [small('tg-churn', `trackgate 100k \`_token\`s through a 10k cache (misses) [${logWord(mainLog)}]`, tokenLines, { identity: true, spec: continuedTokens(tg, 'sqlite'), warmupSeconds: Math.max(cfg.warmup, quick ? 3 : 8), runs: Math.max(2, cfg.runs) })]);
        extra.churnMisses = await metric(tg, 'trackgate_validation_cache_events_total\\{event="miss"\\}');
        extra.churnHits = await metric(tg, 'trackgate_validation_cache_events_total\\{event="hit"\\}');
      } finally { await tg.proc.stop(); }
    }

    // 8. 100,000 cached identities: one pass over 100k tokens (each a miss, then cached), then cycling (hits).
    if (wanted('tg-100k')) {
      const tg = await startTrackgate('trackgate-100k', tgCtx, { logging: { access: mainLog }, cache: { maxEntries: 100_000 } }, { inspect: true });
      try {
        process.stderr.write('trackgate (cache.maxEntries 100000, 100k tokens)\n');
        const churnRps = rows.find((r) => r.id === 'tg-churn')?.rps ?? 5000;
        // A first pass is slower than the churn row (the cache and heap grow): leave it room to finish.
        const passSeconds = Math.min(150, Math.ceil((CHURN_TOKENS / churnRps) * 2.5) + 5);
        const fill = await measure(ctx, tg, {
          id: 'tg-100k-fill', label: 'trackgate 100k `_token`s once through (fill; rps n/a)', group: 'small',
          spec: { ...tokenLines, once: true }, identity: true, warmup: false, runs: 1, seconds: passSeconds,
        });
        extra.cachedEntries = await metric(tg, 'trackgate_validation_cache_entries');
        rows.push({ ...fill, rps: undefined });
        rows.push(await measure(ctx, tg, {
          id: 'tg-100k-hits', label: `trackgate 100k cached \`_token\`s cycling (hits) [${logWord(mainLog)}]`, group: 'small',
          spec: tokenLines, identity: true,
        }));
        extra.cachedEntriesAfter = await metric(tg, 'trackgate_validation_cache_entries');
      } finally { await tg.proc.stop(); }
    }

    // 9. The Redis store: the same tokens in a real redis-server (no persistence) pinned to the load CPU with the
    // upstream and wrk, trackgate on `store.url: redis://…`. Cookie and Basic on a cache hit (Basic never reads the
    // store: the row shows the Redis connections cost nothing on the hot path), and the churn scenario of section 7
    // against Redis (every request a store lookup, one HGETALL).
    const redisHits = [
      small('tg-redis-cookie', `trackgate \`token\` cookie (cache hit), Redis store [${logWord(mainLog)}]`, { headers: { Cookie: `lang=en; token=${tokens.sessionCookie}` } }, { identity: true }),
      small('tg-redis-basic', `trackgate Basic (cache hit), Redis store [${logWord(mainLog)}]`, { headers: { Authorization: basicHeader(USER) } }, { identity: true }),
    ];
    const redisWanted = redisHits.some((s) => wanted(s.id)) || wanted('tg-redis-churn');
    // Commands Redis served between two `redisCalls` snapshots, less the snapshot connection's own (HELLO, INFO).
    const callsSince = (a, b) => Object.fromEntries(Object.entries(b).filter(([k, n]) => k !== 'info' && k !== 'hello' && n > (a[k] ?? 0)).map(([k, n]) => [k, n - (a[k] ?? 0)]));
    if (have('redis-server') && redisWanted) {
      const redisPort = await freePort();
      const redis = startServer('redis-server', [
        'redis-server', '--bind', '127.0.0.1', '--port', String(redisPort), '--save', '', '--appendonly', 'no', '--dir', dir,
      ], { cpu: CPU_LOAD, logFile: join(dir, 'redis-server.log') });
      try {
        await waitForPort(redisPort, { proc: redis });
        const store = { url: `redis://127.0.0.1:${redisPort}` };
        const t0 = Date.now();
        const copied = await copyStoreToRedis(join(dir, 'store.sqlite'), store.url, { named: tokens, bulkFile: tokensFile });
        extra.redis = { ...copied, version: version(['redis-server', '--version'], /\bv=(\S+)/), fillSeconds: (Date.now() - t0) / 1000 };
        process.stderr.write(`redis-server ${extra.redis.version}: ${copied.tokens} tokens written through RedisStore.putToken in ${extra.redis.fillSeconds.toFixed(1)} s (${copied.keys} keys, ${copied.usedMemory})\n`);
        if (redisHits.some((s) => wanted(s.id))) {
          const tg = await startTrackgate('trackgate-redis', tgCtx, { logging: { access: mainLog }, store });
          try {
            process.stderr.write('trackgate (Redis store)\n');
            const calls0 = await redisCalls(redisPort);
            await measureAll(tg, redisHits);
            extra.redisHitCalls = callsSince(calls0, await redisCalls(redisPort));
            extra.redisHitRequests = rows.filter((r) => r.server === 'trackgate-redis').reduce((a, r) => a + r.requests, 0);
          } finally { await tg.proc.stop(); }
        }
        if (wanted('tg-redis-churn')) {
          // The settings of tg-churn (section 7), with the token cycle continued across wrk runs.
          const tg = await startTrackgate('trackgate-redis-churn', tgCtx, { logging: { access: mainLog }, store, cache: { maxEntries: 10_000 } }, { inspect: true });
          try {
            process.stderr.write('trackgate (Redis store, cache.maxEntries 10000, 100k tokens)\n');
            const redisCpu0 = groupCpuSeconds(redis.pid);
            const calls0 = await redisCalls(redisPort);
            await measureAll(tg, [small('tg-redis-churn', `trackgate 100k \`_token\`s through a 10k cache (misses), Redis store [${logWord(mainLog)}]`, tokenLines, { identity: true, spec: continuedTokens(tg, 'redis'), warmupSeconds: Math.max(cfg.warmup, quick ? 3 : 8), runs: Math.max(2, cfg.runs) })]);
            const redisCpu = groupCpuSeconds(redis.pid) - redisCpu0;
            extra.redisChurnCalls = callsSince(calls0, await redisCalls(redisPort));
            extra.redisChurnMisses = await cacheEvents(tg, 'miss');
            extra.redisChurnHits = await cacheEvents(tg, 'hit');
            // Redis's own CPU per lookup over the whole scenario (preflight, warm-up and runs: the span the counters cover).
            if (extra.redisChurnMisses > 0) extra.redisCpuUsPerMiss = (redisCpu * 1e6) / extra.redisChurnMisses;
          } finally { await tg.proc.stop(); }
        }
      } finally {
        await redis.stop();
      }
    } else if (!have('redis-server')) {
      notes.push('redis-server is not installed: the Redis store rows are missing.');
    }

    // 10. Workers: one process vs `workers: 2`, both free to use every CPU (pinned to one core, two workers
    // could only share it). The upstream and wrk still run on CPU 0, so on a 2-core machine the second worker
    // competes with them: this shows what a second process buys on this machine, not on a bigger one.
    for (const [id, workers] of [['tg-w1', 1], ['tg-w2', 2]]) {
      if (!wanted(id)) continue;
      const allCpus = TASKSET ? Array.from({ length: cpus().length }, (_, i) => i).join(',') : undefined;
      const tg = await startTrackgate(`trackgate-${id}`, tgCtx, { logging: { access: mainLog }, workers }, { cpu: allCpus });
      try {
        process.stderr.write(`trackgate (workers: ${workers}, not pinned)\n`);
        await measureAll(tg, [small(id, `trackgate Basic (cache hit), workers: ${workers}, on all CPUs [${logWord(mainLog)}]`, { headers: { Authorization: basicHeader(USER) } }, { identity: true })]);
      } finally { await tg.proc.stop(); }
    }

    // Report.
    extra.k8sMemoryLimitMiB = k8sMemoryLimitMiB();
    extra.connections = cfg.connections;
    const final = withRatios(rows);
    const targetList = targets(final, extra);
    const settings = {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      command: `${quick ? 'BENCH_QUICK=1 ' : ''}npm run bench`,
      quick, runs: cfg.runs, seconds: cfg.seconds, pacedRps: cfg.pacedRps, connections: cfg.connections,
      lines: [
        `wrk \`-t1 -c${cfg.connections} -d${cfg.seconds}s\`, ${cfg.runs} run(s) per scenario after a ${cfg.warmup} s warm-up (${FIRST_WARMUP_SECONDS} s for the first scenario of each server process: JIT); median reported.`,
        `Upstream: Node ${process.version} \`node:http\` (bench/upstream.js): ~300 B JSON, 64 KiB and 1 MiB routes; keep-alive.`,
        `trackgate: \`node ${IMAGE_NODE_FLAGS.map((f) => `${f} `).join('')}bin/trackgate.js --config …\` (NODE_ENV=production${Object.entries(IMAGE_ENV).map(([k, v]) => `, ${k}=${v}`).join('')}: the Dockerfile's environment and node flags), SQLite store (the rows marked "Redis store": \`store.url: redis://127.0.0.1:…\`), EdDSA identity header minted once per identity (ttl 60 s), validation cache ttl 3600 s, all six credential forms enabled, Bearer with one outside ES256 issuer (JWKS served by the bench).`,
        `Access logging of trackgate: **${logWord(mainLog)}** in the main rows (rows marked otherwise measure the other setting); when on, pino writes JSON lines to a file. nginx and Apache run without access logs.`,
        ...(extra.redis ? [`Redis store rows: redis-server ${extra.redis.version} on 127.0.0.1, \`--save '' --appendonly no\` (no persistence), pinned to CPU 0 with the upstream and wrk; ${extra.redis.tokens} tokens (${extra.redis.keys} keys, ${extra.redis.usedMemory} used).`] : []),
        'nginx: 1 worker, `keepalive 64` to the upstream, HTTP/1.1, in-memory proxy buffers (no temp files). Apache: event MPM, 1 process × 64 threads, mod_proxy_http keep-alive.',
        `Cold-cache users: ${cfg.coldUsers} per hash type; warm: ${cfg.warmCount} sequential requests.`,
        `Load average (1, 5, 15 min) at start: ${loadAtStart}; at end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (other work on this 2-core machine shows here and skews rows measured while it ran).`,
      ],
    };
    notes.push(
      'The floor row is the smallest correct proxy on trackgate\'s own stack (bench/bare-proxy.js: node:http + one undici Pool, no auth, metrics or logs) on the same pinned CPU: the most any Node/undici proxy can do here. Targets above it cannot be met by trackgate\'s code alone.',
      'Digest: every request carries a fresh `nc` (1, 2, 3, … on one nonce per wrk run, precomputed in Node because wrk\'s Lua has no MD5; `authn.digest.nonceTtlSeconds: 86400`), so Digest is verified on every request (a Digest credential is single-use, never cached; the identity header, minted per identity, is reused) and trackgate records every (nonce, nc) pair against replay. The first 2 × connections requests use a second nonce: wrk writes each connection\'s first request as soon as it connects, and a connection accepted hundreds of requests later would carry a count below trackgate\'s 256-count replay window (answered `stale`, by design). Apache runs with `AuthDigestNonceLifetime 86400` and its default `AuthDigestNcCheck Off`: with it on, Apache demands strictly consecutive counts per client, which 50 connections sharing one counter cannot produce — so Apache does not check replays here and trackgate does.',
      `Churn: 100,000 session tokens (inserted into the SQLite store before trackgate starts) cycle through \`cache.maxEntries: 10000\`, so every request misses: store lookup, identity, one identity-header signature (${extra.churnMisses ?? '?'} misses and ${extra.churnHits ?? 0} hits counted by trackgate over the scenario). "Live heap" below is the heap in use right after a full GC forced at the end of each run (through the V8 inspector: \`HeapProfiler.collectGarbage\`, then \`Runtime.getHeapUsage\`).`,
      `100k identities: \`cache.maxEntries: 100000\`, 100,000 distinct tokens requested once (the fill row), leaving ${extra.cachedEntries ?? '?'} entries cached; then the same tokens cycle as hits (${extra.cachedEntriesAfter ?? '?'} entries after).`,
      ...(extra.redis ? [`Redis store: the rows marked so run trackgate on \`store.url: redis://…\` against a local redis-server without persistence (\`--save '' --appendonly no\`), pinned to CPU 0 with the upstream and wrk (so it competes with them, not with trackgate), holding the same ${extra.redis.tokens} tokens as the SQLite store, copied record by record through trackgate's own RedisStore.putToken before trackgate starts (${extra.redis.fillSeconds.toFixed(1)} s; \`tg:tok:<digest>\` hashes and \`tg:sub:<subject>\` indexes, read back and compared with the SQLite records). The cookie and Basic rows are cache hits: the token is looked up once, on the first request, and Basic never reads the store, so they show what the Redis connections cost on the hot path${extra.redisHitCalls === undefined ? '' : ` (Redis served ${callList(extra.redisHitCalls)} over both rows, warm-ups included, against ${extra.redisHitRequests} measured requests)`}. The churn row is the churn scenario above against Redis, each wrk run going on through the 100k tokens where the previous one stopped (not restarting at the first token, which would find the last run's tokens still cached), so every request is a Redis lookup${extra.redisChurnMisses === undefined ? '' : ` (trackgate counted ${extra.redisChurnMisses} misses and ${extra.redisChurnHits ?? 0} hits over the scenario; Redis served ${callList(extra.redisChurnCalls)})`}${extra.redisCpuUsPerMiss === undefined ? '' : `, and Redis itself used ${extra.redisCpuUsPerMiss.toFixed(1)} µs of CPU per lookup, which is not in the row's CPU µs/req (trackgate's alone)`}.`] : []),
      ...(extra.edgeDecisions ? [`Decision mode (the "nginx + trackgate decisions" rows): nginx with deploy/edge/nginx/trackgate-auth.conf as the repo ships it (placeholders filled by deploy/edge/nginx/render.mjs, as test/e2e/decision-nginx.test.ts does; \`worker_processes auto\` set to 1 like the other nginx rows; otherwise its own settings: 16 KiB proxy buffers, 10,000 requests per client keep-alive connection, and the decisions' \`proxy_cache\` on disk in the run's temp dir) in front of a trackgate with \`decision.listen\` (the default \`decision.maxAgeSeconds: 5\`; 0 for the \`maxAgeSeconds: 0\` row), both pinned to CPU 1, the core a proxy under test has alone in the other rows; their CPU µs/req, instructions and peak RSS are the pair's. Decisions trackgate answered over those rows, warm-ups and preflights included, by scheme: ${extra.edgeDecisions.map((e) => `${e.cached ? 'behind the caching nginx' : 'with maxAgeSeconds 0'} ${Object.entries(e.decisions).map(([k, n]) => `${k} ${n}`).join(', ')} (${e.served} measured requests)`).join('; ')}.`] : []),
      'Workers: the two `workers` rows run trackgate unpinned (any CPU, like the upstream and wrk), one process against a primary with two workers; their CPU µs/req includes the primary. Elsewhere trackgate is one process pinned to its own CPU.',
      `Peak RSS is VmHWM (reset through /proc/<pid>/clear_refs at the start of each scenario, and of each run for the interleaved rows${rows.every((r) => r.hwmReset !== false) ? '' : '; the kernel refused the reset for some scenarios, whose peak is since process start'}), summed over the server's processes (nginx master + worker, Apache parent + child).`,
      'Interleaved rounds: the upstream direct, the floor, nginx, Apache and trackgate\'s main rows were measured with all those servers up, one wrk run per row per round in alternating order (the ~300 B rows, then the 64 KiB and 1 MiB rows; 1 s of uncounted load first on a server that sat idle while others ran), so the machine\'s drift during the comparison spreads over all of them; the other trackgate rows were measured one after the other afterwards.',
      'This machine is shared and noisy: compare rows of one run with each other, not across runs.',
    );
    const floor = final.find((r) => r.id === 'bare-small');
    const floor64 = final.find((r) => r.id === 'bare-64k');
    if (floor !== undefined) {
      const fx = (x) => (x === undefined ? '—' : `${x.toFixed(2)}×`);
      const at = notes.findIndex((n) => n.startsWith('The floor row'));
      notes.splice(at + 1, 0, `The floor itself reaches ${fx(floor.xDirect)} direct and ${fx(floor.xNginx)} nginx (~300 B), ${fx(floor64?.xNginx)} nginx (64 KiB), with p99 +${(floor.addedP99 ?? NaN).toFixed(2)} ms over direct, at ${floor.cpuUs.toFixed(1)} CPU µs/request.`);
    }
    const doc = markdownDoc({ machine: machine({ redis: extra.redis !== undefined }), settings, rows: final, coldWarm: cold, targetList, notes });
    process.stdout.write(`\n${textTable(final)}\n\n`);
    for (const c of cold) process.stdout.write(`${c.label}: cold ${c.coldMedian.toFixed(2)} ms (max ${c.coldMax.toFixed(2)}), warm ${c.warmMedian.toFixed(3)} ms (p99 ${c.warmP99.toFixed(3)})\n`);
    process.stdout.write('\n');
    for (const t of targetList) process.stdout.write(`${t.pass === true ? 'PASS' : t.pass === false ? 'FAIL' : 'n/a '}  ${t.name}: ${t.detail}\n`);
    if (cfg.out) {
      writeFileSync(cfg.out, doc);
      process.stdout.write(`\nwrote ${cfg.out}\n`);
    }
    if (env.BENCH_JSON) writeFileSync(env.BENCH_JSON, JSON.stringify({ cfg, rows: final, cold, extra, targets: targetList }, null, 1));
    process.stdout.write(`total ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  } finally {
    await jwksServer?.close();
    killAll();
    if (env.BENCH_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`kept ${dir}\n`);
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  killAll();
  process.exitCode = 1;
});
