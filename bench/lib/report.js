/**
 * The results table (ratios to direct and to nginx without auth, per body size), the targets with
 * pass/fail, and docs/PERFORMANCE.md.
 */

const f = (x, d = 0) => (x === undefined || Number.isNaN(x) ? '—' : x.toFixed(d));
const ratio = (a, b) => (a === undefined || b === undefined || !b ? undefined : a / b);

/** Whether a row was measured at a fixed offered load (bench/run.js `…@paced`) rather than at saturation. */
export const isPaced = (r) => r.group === 'paced';

/**
 * Adds `xDirect` / `xNginx` to every row with an rps, per body-size group, and `addedP50` / `addedP99` (ms over
 * the upstream reached directly in the same group). Paced rows get no rps ratios: their rate is the one offered.
 */
export function withRatios(rows) {
  const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
  const ref = {
    small: { direct: byId['direct-small'], nginx: byId['nginx-noauth-small'] },
    '64k': { direct: byId['direct-64k'], nginx: byId['nginx-noauth-64k'] },
    '1m': { direct: byId['direct-1m'], nginx: byId['nginx-noauth-1m'] },
    paced: { direct: byId['direct-small@paced'] },
  };
  return rows.map((r) => ({
    ...r,
    xDirect: r.rps === undefined || isPaced(r) ? undefined : ratio(r.rps, ref[r.group]?.direct?.rps),
    xNginx: r.rps === undefined || isPaced(r) ? undefined : ratio(r.rps, ref[r.group]?.nginx?.rps),
    addedP50: r.p50 === undefined ? undefined : r.p50 - (ref[r.group]?.direct?.p50 ?? NaN),
    addedP99: r.p99 === undefined ? undefined : r.p99 - (ref[r.group]?.direct?.p99 ?? NaN),
  }));
}

const HEAD = ['scenario', 'rps', 'p50 ms', 'p99 ms', '×direct', '×nginx', 'CPU µs/req', 'k instr/req', 'peak RSS MiB'];

function cells(r) {
  const notes = [];
  if (r.errors > 0) notes.push(`⚠ ${r.errors} errors`);
  return [
    r.label + (notes.length ? ` (${notes.join(', ')})` : ''),
    f(r.rps), f(r.p50, 2), f(r.p99, 2), f(r.xDirect, 2), f(r.xNginx, 2), f(r.cpuUs, 1), f(r.kInstr, 0), f(r.peakRss, 0),
  ];
}

const PACED_HEAD = ['scenario (fixed offered load)', 'rps', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', '+p50 ms', '+p99 ms', 'CPU µs/req', 'CPU % of a core'];
const signed = (x) => (x === undefined || Number.isNaN(x) ? '—' : `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`);

function pacedCells(r) {
  return [
    r.label + (r.errors > 0 ? ` (⚠ ${r.errors} errors)` : ''),
    f(r.rps), f(r.p50, 2), f(r.p90, 2), f(r.p99, 2), f(r.max, 1), signed(r.addedP50), signed(r.addedP99), f(r.cpuUs, 1),
    f(r.rps === undefined || r.cpuUs === undefined ? undefined : (r.rps * r.cpuUs) / 1e4, 0),
  ];
}

function markdownOf(head, rows, cellsOf) {
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const r of rows) lines.push(`| ${cellsOf(r).join(' | ')} |`);
  return lines.join('\n');
}

/** The saturation rows (every row but the paced ones). */
export const markdownTable = (rows) => markdownOf(HEAD, rows.filter((r) => !isPaced(r)), cells);
/** The paced rows: latency at a fixed offered load. */
export const pacedMarkdownTable = (rows) => markdownOf(PACED_HEAD, rows.filter(isPaced), pacedCells);

/** Both tables as aligned text, for the terminal. */
export function textTable(rows) {
  const paced = rows.filter(isPaced);
  const main = textOf(HEAD, rows.filter((r) => !isPaced(r)), cells);
  return paced.length === 0 ? main : `${main}\n\n${textOf(PACED_HEAD, paced, pacedCells)}`;
}

function textOf(head, rows, cellsOf) {
  const all = [head, ...rows.map(cellsOf)];
  const w = head.map((_, i) => Math.max(...all.map((c) => c[i].length)));
  return all.map((c, k) => {
    const line = c.map((v, i) => (i === 0 ? v.padEnd(w[i]) : v.padStart(w[i]))).join('  ');
    return k === 0 ? `${line}\n${'-'.repeat(line.length)}` : line;
  }).join('\n');
}

/** Evaluates the targets of the performance issue; each `{ name, pass (true/false/undefined = not measured), detail }`. */
export function targets(rows, extra) {
  const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
  const out = [];
  const forms = rows.filter((r) => r.kind === 'form' && !isPaced(r));
  const pacedForms = rows.filter((r) => r.kind === 'form' && isPaced(r));
  // The row with the lowest (sign 1) or highest (sign -1) `key`.
  const pick = (list, key, sign) => list.reduce((a, r) => (a === undefined || sign * (r[key] - a[key]) < 0 ? r : a), undefined);
  const worst = (list, key) => pick(list, key, 1);
  const ok = (r) => r !== undefined && r.errors === 0;
  const listOf = (list, key, fmt) => list.map((r) => `${r.short} ${fmt(r[key])}`).join(', ');
  const formList = (key, fmt) => listOf(forms, key, fmt);

  const wd = worst(forms, 'xDirect');
  out.push({
    name: 'every form on a cache hit ≥ 0.65× direct',
    pass: forms.length && forms.every((r) => ok(r) && r.xDirect >= 0.65) ? true : forms.length ? false : undefined,
    detail: forms.length ? `worst: ${wd?.short} ${f(wd?.xDirect, 2)}× — ${formList('xDirect', (x) => `${f(x, 2)}×`)}` : 'not measured',
  });
  const wn = worst(forms, 'xNginx');
  out.push({
    name: 'every form on a cache hit ≥ 0.80× nginx (no auth)',
    pass: forms.length && forms.every((r) => ok(r) && r.xNginx >= 0.8) ? true : forms.length && forms.every((r) => r.xNginx !== undefined) ? false : undefined,
    detail: forms.length ? `worst: ${wn?.short} ${f(wn?.xNginx, 2)}× — ${formList('xNginx', (x) => `${f(x, 2)}×`)}` : 'not measured',
  });
  const cmp = (name, a, b, min) => {
    const A = byId[a];
    const B = byId[b];
    const x = ratio(A?.rps, B?.rps);
    out.push({
      name,
      pass: x === undefined ? undefined : ok(A) && ok(B) && x >= min,
      detail: x === undefined ? 'not measured (peer missing)' : `${f(A.rps)} vs ${f(B.rps)} rps = ${f(x, 2)}×${cpuSplit(A)}`,
    });
  };
  // Where a decision pair's time goes: nginx's part and trackgate's of the pair's CPU per request.
  const cpuSplit = (r) => (r.trackgateCpuUs === undefined ? ''
    : `; CPU ${f(r.cpuUs, 1)} µs/req = nginx ${f(r.cpuUs - r.trackgateCpuUs, 1)} + trackgate ${f(r.trackgateCpuUs, 1)}`);
  cmp('Digest ≥ 1.1× Apache mod_auth_digest', 'tg-digest', 'apache-digest', 1.1);
  cmp('Basic ≥ 2× nginx auth_basic apr1', 'tg-basic', 'nginx-apr1', 2);
  cmp('bcrypt user (Basic, cache hit) ≥ 20× nginx auth_basic bcrypt cost 5', 'tg-bcrypt', 'nginx-bcrypt', 20);
  cmp('64 KiB bodies ≥ 0.6× nginx', 'tg-64k', 'nginx-noauth-64k', 0.6);
  // Same scenario, same run, interleaved; issue 19's "within noise" is taken as 5 %.
  cmp('inventory on within noise of inventory off (Basic, cache hit: ≥ 0.95×)', 'tg-inventory-on', 'tg-inventory-off', 0.95);
  // Decision mode (nginx + trackgate, bench/lib/edge.js): cached decisions cost what nginx costs.
  const cached = rows.filter((r) => r.kind === 'decision' && !isPaced(r));
  const against = (name, peer, min) => {
    const P = byId[peer];
    const xs = cached.map((r) => ({ ...r, x: ratio(r.rps, P?.rps) }));
    const w = pick(xs, 'x', 1);
    out.push({
      name,
      pass: cached.length === 0 || P === undefined ? undefined : ok(P) && xs.every((r) => ok(r) && r.x >= min),
      detail: cached.length === 0 ? 'not measured' : P === undefined ? 'not measured (peer missing)'
        : `worst: ${w.short} ${f(w.x, 2)}× — ${listOf(xs, 'x', (x) => `${f(x, 2)}×`)} (against ${f(P.rps)} rps)`,
    });
  };
  against('cached decisions (nginx + trackgate: Basic, Bearer, `_token`) ≥ 0.85× nginx (no auth)', 'nginx-noauth-small', 0.85);
  against('cached decisions (nginx + trackgate: Basic, Bearer, `_token`) ≥ 4× nginx auth_basic apr1', 'nginx-apr1', 4);
  cmp('64 KiB bodies through nginx + trackgate decisions ≥ 0.9× nginx (no auth)', 'edge-64k', 'nginx-noauth-64k', 0.9);
  cmp('uncached decisions (Basic, `decision.maxAgeSeconds: 0`) ≥ the sidecar mode (Basic)', 'edge-nocache-basic', 'tg-basic', 1);
  cmp('uncached decisions (Digest, no-store) ≥ the sidecar mode (Digest)', 'edge-digest', 'tg-digest', 1);
  const worstOf = (list) => pick(list, 'addedP99', -1);
  const p99List = (list) => listOf(list, 'addedP99', signed);
  const wp = worstOf(pacedForms);
  const pacedDirect = byId['direct-small@paced'];
  out.push({
    name: `p99 added latency over direct ≤ 3 ms at ${extra.connections ?? 50} connections, every form (at a fixed offered load below saturation)`,
    pass: pacedForms.length && pacedDirect !== undefined ? pacedForms.every((r) => ok(r) && r.addedP99 <= 3) : undefined,
    detail: pacedForms.length && pacedDirect !== undefined
      ? `${f(pacedDirect.rps)} rps offered over ${extra.connections ?? 50} connections; worst: ${wp.short} ${signed(wp.addedP99)} ms (direct p99 ${f(pacedDirect.p99, 2)} ms) — ${p99List(pacedForms)}`
      : 'not measured',
  });
  const ws = worstOf(forms);
  out.push({
    name: `p99 over direct at saturation (reported; no target: at saturation p99 is the queue of ${extra.connections ?? 50} connections at each server's own throughput)`,
    pass: undefined,
    detail: forms.length ? `worst: ${ws.short} ${signed(ws.addedP99)} ms (direct p99 ${f(byId['direct-small']?.p99, 2)} ms) — ${p99List(forms)}` : 'not measured',
  });
  const w1 = byId['tg-w1'];
  const w2 = byId['tg-w2'];
  if (w1 !== undefined && w2 !== undefined) {
    out.push({
      name: 'workers: 2 vs 1 (reported; no target)',
      pass: undefined,
      detail: `${f(w2.rps)} vs ${f(w1.rps)} rps = ${f(ratio(w2.rps, w1.rps), 2)}×; CPU ${f(w2.cpuUs, 1)} vs ${f(w1.cpuUs, 1)} µs/req`,
    });
  }
  const fill = byId['tg-100k-fill'];
  const hits = byId['tg-100k-hits'];
  const peak = Math.max(fill?.peakRss ?? 0, hits?.peakRss ?? 0);
  out.push({
    name: 'peak RSS ≤ 150 MiB with 100,000 cached identities',
    pass: fill === undefined ? undefined : extra.cachedEntries >= 100000 * 0.99 && peak <= 150,
    detail: fill === undefined ? 'not measured' : `peak RSS ${f(peak, 1)} MiB with ${extra.cachedEntries ?? '?'} cache entries (live heap after full GC ${f(hits?.runs.at(-1)?.liveHeap ?? fill.runs.at(-1)?.liveHeap, 1)} MiB)`,
  });
  const limit = extra.k8sMemoryLimitMiB;
  // Every single-process trackgate row (the `workers` rows run several processes, not the manifest's one).
  const tgRows = rows.filter((r) => r.server?.startsWith('trackgate') && !r.id.startsWith('tg-w') && r.peakRss !== undefined);
  const heaviest = pick(tgRows, 'peakRss', -1);
  out.push({
    name: 'peak RSS of every trackgate row within the memory limit of k8s/base/trackgate-sidecar.yaml (reported; the manifest is sized from these rows)',
    pass: limit === undefined || heaviest === undefined ? undefined : heaviest.peakRss <= limit,
    detail: limit === undefined ? 'no limit read from k8s/base/trackgate-sidecar.yaml' : heaviest === undefined ? 'not measured'
      : `limit ${f(limit)} MiB; highest ${f(heaviest.peakRss)} MiB (${heaviest.label}${isPaced(heaviest) ? ', paced' : ''})`,
  });
  const churn = byId['tg-churn'];
  if (churn === undefined) {
    out.push({ name: 'memory flat under churn', pass: undefined, detail: 'not measured' });
  } else {
    // After the warm-up the 10k cache is full: from then on the live heap must not keep growing. RSS is shown
    // too, but it follows V8's heap growth and the timing of full collections, so it is not the criterion.
    const heap = churn.runs.map((r) => r.liveHeap).filter((x) => x !== undefined);
    const rss = [churn.rssAfterWarmup, ...churn.runs.map((r) => r.rss)];
    const grew = heap.length >= 2 ? heap[heap.length - 1] - heap[0] : undefined;
    out.push({
      name: 'memory flat under churn (100k tokens through a 10k cache: live heap after full GC grows ≤ 10% + 2 MiB from the first to the last run)',
      pass: grew === undefined ? undefined : grew <= heap[0] * 0.1 + 2,
      detail: `live heap ${heap.length ? heap.map((x) => f(x, 1)).join(' → ') : '—'} MiB${heap.length < 2 ? ' (needs ≥ 2 runs)' : ''}; RSS ${rss.map((x) => f(x, 0)).join(' → ')} MiB (peak ${f(churn.peakRss, 0)} MiB)`,
    });
  }
  return out;
}

const mark = (p) => (p === true ? '**PASS**' : p === false ? '**FAIL**' : 'n/a');

export function markdownDoc({ machine, settings, rows, coldWarm, targetList, notes }) {
  return `# Performance

<!-- Generated by \`npm run bench\` (bench/run.js). Do not edit by hand: every number below is replaced at each run. -->

Last run: ${settings.date} — \`${settings.command}\`${settings.quick ? ' (**quick mode**: short runs, indicative only)' : ''}

## Machine

| | |
|---|---|
| CPU | ${machine.cpu} |
| cores | ${machine.cores} |
| kernel | ${machine.kernel} |
| Node.js | ${machine.node} |
| nginx | ${machine.nginx} |
| Apache httpd | ${machine.apache} |
| load generator | ${machine.wrk} |
| pinning | ${machine.pinning} |

## Settings

${settings.lines.map((l) => `- ${l}`).join('\n')}

## Results

Median of ${settings.runs} run(s) of ${settings.seconds} s per scenario (rps, p50, p99 and CPU each the median; peak RSS
the highest VmHWM of the server's processes over the scenario). ×direct and ×nginx compare with the upstream
reached directly and with nginx without auth, for the same body size, in the same run. CPU µs/req is the server
under test's own user+system CPU time (the upstream's, for the direct rows) divided by the requests served.
k instr/req is the same processes' instructions (user + kernel, \`perf stat -e instructions\`) per request, in
thousands: unlike rps and CPU time it barely moves with the load of a shared machine, so it is the column to
compare across runs ('—' where perf cannot read hardware counters).

${markdownTable(rows)}
${rows.some(isPaced) ? `
### Latency at a fixed load

The paced rows (\`…@paced\` in \`BENCH_ONLY\`) send the same requests at a fixed offered load of about ${settings.pacedRps} requests/s over
the same ${settings.connections} connections (each connection waits an exponentially distributed pause after each response, mean ${settings.connections} / ${settings.pacedRps} s:
wrk's \`delay()\` hook), so no server is saturated and latency is the time a request takes through it, not the time spent
queued behind the other connections' requests. +p50 and +p99 are the difference to the upstream reached directly at the same load, in the
same run. CPU % of a core is CPU µs/req × rps: how busy the server was.

${pacedMarkdownTable(rows)}
` : ''}
### First request (cold validation cache) vs warm

Single requests on an open keep-alive connection, one at a time (no load).

| credential | cold: first request, median (max) ms | warm: median ms | warm: p99 ms |
|---|---:|---:|---:|
${coldWarm.map((c) => `| ${c.label} | ${f(c.coldMedian, 2)} (${f(c.coldMax, 2)}) over ${c.cold.length} users | ${f(c.warmMedian, 3)} | ${f(c.warmP99, 3)} |`).join('\n')}

## Targets

| target | result | measured |
|---|---|---|
${targetList.map((t) => `| ${t.name} | ${mark(t.pass)} | ${t.detail} |`).join('\n')}

## Notes

${notes.map((n) => `- ${n}`).join('\n')}
`;
}
