/**
 * The operator page (`GET /admin/`): one self-contained HTML document, no build step, no outside asset, usable
 * offline. Its script reads what the CLI and the monitoring read: `/admin/inventory` (the clients per form, the
 * CSV export is that endpoint's `?format=csv`), `/admin/policies` (404: no policies), `/metrics` (requests by form
 * sampled into a chart, auth failures by reason, cache hit ratio) and `/readyz` (upstream and store health). The
 * browser sends the operator login it was asked for with each of these requests.
 *
 * Everything shown comes from data through `textContent` or SVG attributes, never markup; the response's CSP
 * admits only this document's own script and style (a per-response nonce) and requests to this origin.
 */
import { randomBytes } from 'node:crypto';

/** How often the page samples `/metrics` for its chart, ms (also its refresh of everything else). */
export const SAMPLE_MS = 5000;

/** The page and the headers it must be served with. */
export function operatorPage(opts: { policies: boolean }): { html: string; headers: Record<string, string> } {
  const nonce = randomBytes(16).toString('base64');
  return {
    html: PAGE.replaceAll('__NONCE__', nonce).replace('__SAMPLE_MS__', String(SAMPLE_MS)).replace('__POLICIES__', String(opts.policies)),
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    },
  };
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>trackgate operator</title>
<style nonce="__NONCE__">
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em; color: #1b1f24; }
  h1 { font-size: 1.4em; margin: 0 0 .5em; }
  h2 { font-size: 1.1em; margin: 1.2em 0 .4em; border-bottom: 1px solid #d0d7de; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .2em .5em; border-bottom: 1px solid #eaeef2; vertical-align: top; }
  td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
  .tiles { display: flex; gap: 1em; flex-wrap: wrap; }
  .tile { border: 1px solid #d0d7de; border-radius: 6px; padding: .5em 1em; min-width: 12em; }
  .tile b { display: block; font-size: 1.5em; }
  .ok { color: #1a7f37; } .bad { color: #cf222e; } .muted { color: #57606a; }
  #chart { width: 100%; height: 220px; border: 1px solid #d0d7de; border-radius: 6px; }
  .legend span { margin-right: 1em; white-space: nowrap; }
  .swatch { display: inline-block; width: .8em; height: .8em; margin-right: .3em; }
  input[type=search] { padding: .3em; width: 20em; }
</style>
</head>
<body>
<h1>trackgate operator</h1>
<p class="muted" id="updated">loading…</p>

<div class="tiles">
  <div class="tile">upstream <b id="upstream">…</b></div>
  <div class="tile">store <b id="store">…</b></div>
  <div class="tile">cache hit ratio <b id="hit-ratio">…</b></div>
  <div class="tile">clients (inventory) <b id="client-count">…</b></div>
</div>

<h2>Requests by credential form</h2>
<svg id="chart" viewBox="0 0 1000 220" preserveAspectRatio="none" role="img" aria-label="requests per second by credential form"></svg>
<div class="legend" id="legend"></div>
<table id="request-totals"><thead><tr><th>form</th><th class="n">requests since start</th></tr></thead><tbody></tbody></table>

<h2>Forms under a policy</h2>
<div id="policies"><p class="muted">loading…</p></div>

<h2>Clients by credential form</h2>
<p><input type="search" id="search" placeholder="search subject, account, form, user agent…" aria-label="search clients">
  <a id="csv" href="inventory?format=csv" download="trackgate-inventory.csv">export CSV</a></p>
<table id="by-scheme"><thead><tr><th>form</th><th class="n">clients</th><th class="n">requests</th></tr></thead><tbody></tbody></table>
<p></p>
<table id="clients"><thead><tr><th>form</th><th>dialect</th><th>subject</th><th>kind</th><th>account</th><th>instance</th><th>last seen</th><th class="n">requests</th><th>user agent</th></tr></thead><tbody></tbody></table>

<h2>Authentication failures by reason</h2>
<table id="failures"><thead><tr><th>reason</th><th class="n">attempts</th></tr></thead><tbody></tbody></table>

<script nonce="__NONCE__">
"use strict";
var SAMPLE_MS = __SAMPLE_MS__;
/** Whether this admin port serves /admin/policies at all (else the page does not ask, and shows none). */
var HAS_POLICIES = __POLICIES__;
var COLORS = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#57606a", "#1b7c83"];
var samples = [];
var inventory = [];

function el(tag, text, cls) {
  var e = document.createElement(tag);
  if (text !== undefined) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function row(tbody, cells, numeric) {
  var tr = document.createElement("tr");
  cells.forEach(function (c, i) { tr.appendChild(el("td", c, numeric && numeric.indexOf(i) >= 0 ? "n" : undefined)); });
  tbody.appendChild(tr);
}
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
function get(path) {
  return fetch(path, { credentials: "same-origin", cache: "no-store" });
}

/** Prometheus text: every sample of metric name, as {labels, value}. */
function parseMetric(text, name) {
  var out = [];
  text.split("\\n").forEach(function (line) {
    if (line.indexOf(name) !== 0) return;
    var m = /^([a-z_]+)(?:\\{(.*)\\})? ([^ ]+)/.exec(line);
    if (m === null || m[1] !== name) return;
    var labels = {};
    var re = /([a-z_]+)="((?:[^"\\\\]|\\\\.)*)"/g;
    var l;
    while ((l = re.exec(m[2] || "")) !== null) labels[l[1]] = l[2];
    out.push({ labels: labels, value: Number(m[3]) });
  });
  return out;
}
function sumBy(samples, label) {
  var out = {};
  samples.forEach(function (s) { var k = s.labels[label]; out[k] = (out[k] || 0) + s.value; });
  return out;
}

function drawChart() {
  var svg = document.getElementById("chart");
  clear(svg);
  var legend = document.getElementById("legend");
  clear(legend);
  if (samples.length < 2) { var t = document.createElementNS("http://www.w3.org/2000/svg", "text"); t.setAttribute("x", "10"); t.setAttribute("y", "110"); t.textContent = "collecting samples…"; svg.appendChild(t); return; }
  var schemes = Object.keys(samples[samples.length - 1].totals).sort();
  var rates = schemes.map(function (s) {
    var pts = [];
    for (var i = 1; i < samples.length; i++) {
      var dt = (samples[i].at - samples[i - 1].at) / 1000;
      pts.push(Math.max(0, ((samples[i].totals[s] || 0) - (samples[i - 1].totals[s] || 0)) / dt));
    }
    return pts;
  });
  var max = Math.max.apply(null, [1].concat(rates.map(function (r) { return Math.max.apply(null, r); })));
  var scale = document.createElementNS("http://www.w3.org/2000/svg", "text");
  scale.setAttribute("x", "6");
  scale.setAttribute("y", "16");
  scale.setAttribute("font-size", "12");
  scale.setAttribute("fill", "#57606a");
  scale.textContent = "top: " + max.toFixed(1) + " requests/s; " + Math.round((samples[samples.length - 1].at - samples[0].at) / 1000) + " s shown";
  svg.appendChild(scale);
  rates.forEach(function (pts, k) {
    // One interval is one rate: drawn across the width, since a polyline of one point shows nothing.
    if (pts.length === 1) pts = [pts[0], pts[0]];
    var line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    var step = pts.length > 1 ? 1000 / (pts.length - 1) : 1000;
    line.setAttribute("points", pts.map(function (v, i) { return (i * step).toFixed(1) + "," + (210 - 200 * v / max).toFixed(1); }).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", COLORS[k % COLORS.length]);
    line.setAttribute("stroke-width", "2");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    line.setAttribute("data-scheme", schemes[k]);
    svg.appendChild(line);
    var item = el("span");
    var sw = el("span", undefined, "swatch");
    sw.style.background = COLORS[k % COLORS.length];
    item.appendChild(sw);
    item.appendChild(document.createTextNode(schemes[k] + " " + pts[pts.length - 1].toFixed(1) + "/s"));
    legend.appendChild(item);
  });
}

function showMetrics(text) {
  var totals = sumBy(parseMetric(text, "trackgate_requests_total"), "scheme");
  samples.push({ at: Date.now(), totals: totals });
  if (samples.length > 120) samples.shift();
  drawChart();
  var tb = document.querySelector("#request-totals tbody");
  clear(tb);
  Object.keys(totals).sort().forEach(function (s) { row(tb, [s, totals[s]], [1]); });

  var failures = {};
  parseMetric(text, "trackgate_auth_attempts_total").forEach(function (s) {
    if (s.labels.reason !== "ok") failures[s.labels.reason] = (failures[s.labels.reason] || 0) + s.value;
  });
  var fb = document.querySelector("#failures tbody");
  clear(fb);
  var reasons = Object.keys(failures).sort();
  if (reasons.length === 0) row(fb, ["none", 0], [1]);
  reasons.forEach(function (r) { row(fb, [r, failures[r]], [1]); });

  var ev = sumBy(parseMetric(text, "trackgate_validation_cache_events_total"), "event");
  var lookups = (ev.hit || 0) + (ev.negative_hit || 0) + (ev.miss || 0);
  document.getElementById("hit-ratio").textContent = lookups === 0 ? "no lookups" : (100 * ((ev.hit || 0) + (ev.negative_hit || 0)) / lookups).toFixed(1) + " %";
}

function showReadiness(body) {
  var checks = body.checks || {};
  [["upstream", checks.upstream], ["store", checks.store]].forEach(function (p) {
    var node = document.getElementById(p[0]);
    var c = p[1];
    node.textContent = c === undefined ? "unknown" : c.ok ? "up" : "down";
    node.className = c !== undefined && c.ok ? "ok" : "bad";
    node.title = c && c.detail ? c.detail : "";
  });
}

/** Distinct clients (subject, kind, account, instance) among records. */
function clientCount(records) {
  var seen = {};
  records.forEach(function (r) { seen[[r.subject, r.kind, r.account, r.instance].join("\\u0000")] = true; });
  return Object.keys(seen).length;
}

function showInventory() {
  var q = document.getElementById("search").value.trim().toLowerCase();
  var shown = inventory.filter(function (r) {
    if (q === "") return true;
    return [r.scheme, r.dialect, r.subject, r.kind, r.account, r.instance, r.userAgent || ""].join(" ").toLowerCase().indexOf(q) >= 0;
  });
  var tb = document.querySelector("#clients tbody");
  clear(tb);
  shown.forEach(function (r) { row(tb, [r.scheme, r.dialect, r.subject, r.kind, r.account, r.instance, r.lastSeen, r.count, r.userAgent || ""], [7]); });
  var per = {};
  inventory.forEach(function (r) { (per[r.scheme] = per[r.scheme] || []).push(r); });
  var sb = document.querySelector("#by-scheme tbody");
  clear(sb);
  Object.keys(per).sort().forEach(function (s) {
    row(sb, [s, clientCount(per[s]), per[s].reduce(function (n, r) { return n + r.count; }, 0)], [1, 2]);
  });
  document.getElementById("client-count").textContent = String(clientCount(inventory));
}

function showPolicies(list) {
  var box = document.getElementById("policies");
  clear(box);
  var strict = (list || []).filter(function (p) { return p.policy === "deprecated" || p.policy === "report-only" || p.policy === "deny"; });
  if (strict.length === 0) { box.appendChild(el("p", "no policies", "muted")); return; }
  var t = el("table");
  var head = el("thead");
  var hr = el("tr");
  ["policy", "form", "mode", "sunset", "accounts", "path prefix", "clients that would break today"].forEach(function (h, i) { hr.appendChild(el("th", h, i === 6 ? "n" : undefined)); });
  head.appendChild(hr);
  t.appendChild(head);
  var tb = el("tbody");
  strict.forEach(function (p) {
    var affected = inventory.filter(function (r) {
      return r.scheme === p.scheme && (!p.accounts || p.accounts.length === 0 || p.accounts.indexOf(r.account) >= 0);
    });
    row(tb, [p.name, p.scheme, p.policy, p.sunset || "", (p.accounts || []).join(", "), p.pathPrefix || "", clientCount(affected)], [6]);
  });
  t.appendChild(tb);
  box.appendChild(t);
}

function refresh() {
  var jobs = [
    get("../metrics").then(function (r) { return r.text(); }).then(showMetrics),
    get("../readyz").then(function (r) { return r.json(); }).then(showReadiness),
    get("inventory").then(function (r) {
      if (!r.ok) throw new Error("inventory: HTTP " + r.status);
      return r.json();
    }).then(function (body) {
      inventory = body.records;
      showInventory();
      if (!HAS_POLICIES) { showPolicies([]); return undefined; }
      return get("policies").then(function (r) {
        if (r.status === 404) return { policies: [] };
        if (!r.ok) throw new Error("policies: HTTP " + r.status);
        return r.json();
      }).then(function (body) { showPolicies(body.policies); });
    }),
  ];
  Promise.allSettled(jobs).then(function (results) {
    var failed = results.filter(function (r) { return r.status === "rejected"; }).map(function (r) { return String(r.reason && r.reason.message || r.reason); });
    var u = document.getElementById("updated");
    u.textContent = "updated " + new Date().toLocaleTimeString() + (failed.length ? " — " + failed.join("; ") : "");
    u.className = failed.length ? "bad" : "muted";
    document.body.setAttribute("data-refreshed", String(Number(document.body.getAttribute("data-refreshed") || "0") + 1));
  });
}

document.getElementById("search").addEventListener("input", showInventory);
refresh();
setInterval(refresh, SAMPLE_MS);
</script>
</body>
</html>
`;
