/**
 * The load generator: wrk (`-t1 -c<conns> -d<secs>`), driven by a generated Lua script that either sends
 * one static request or cycles through precomputed requests built from a data file (one line of
 * tab-separated values per request; `{1}`, `{2}` … in the path and header templates are replaced by them).
 * Every request string is built once in `init`, so the load generator does the same work per request in
 * every scenario. `done` prints one JSON line: requests, duration, p50/p99 (µs) and error counts.
 *
 * Paced scripts (`spec.paceMs`) hold a fixed offered load instead of saturating the server: each connection
 * waits an exponentially distributed think time (mean `paceMs`, wrk's `delay()` hook) after every response, so
 * N connections offer about N / (paceMs + latency) requests per second in Poisson-like arrivals. Well below
 * the server's capacity, latency then measures the server's work and pauses, not a queue of 50 requests.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './procs.js';

const lua = (s) => {
  if (!/^[\x20-\x7e]*$/.test(s)) throw new Error(`non-ASCII or control character in a Lua literal: ${JSON.stringify(s)}`);
  return JSON.stringify(s); // printable ASCII: JSON's \" and \\ are valid Lua escapes
};

const DONE = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\n{"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"bad_status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
`;

/** wrk's `delay()` hook (ms before each request; integers): exponential think time, fixed seed. */
const paced = (meanMs) => `
math.randomseed(1)
local PACE_MS = ${Number(meanMs)}
delay = function()
  return math.floor(-PACE_MS * math.log(1 - math.random()) + 0.5)
end
`;

/**
 * Writes the Lua script for a request spec: `{ method, path, headers, body?, data?, once?, paceMs? }` (`body`:
 * static requests only). With `data` (a
 * file of tab-separated values), requests cycle through its lines (`once`: stop after one pass); with
 * `paceMs`, each connection waits that long on average before each request (see above).
 */
export function writeScript(dir, name, spec) {
  const method = spec.method ?? 'GET';
  const headers = Object.entries(spec.headers ?? {});
  let body;
  if (spec.data === undefined) {
    body = `wrk.method = ${lua(method)}
wrk.path = ${lua(spec.path)}
${headers.map(([k, v]) => `wrk.headers[${lua(k)}] = ${lua(v)}`).join('\n')}
${spec.body === undefined ? '' : `wrk.body = ${lua(spec.body)}`}
`;
  } else {
    body = `local reqs = {}
local total = 0
local i = 0
local ONCE = ${spec.once ? 'true' : 'false'}
local HEADERS = { ${headers.map(([k, v]) => `[${lua(k)}] = ${lua(v)}`).join(', ')} }
init = function(args)
  for line in io.lines(${lua(spec.data)}) do
    local f = {}
    for field in string.gmatch(line, "[^\\t]+") do f[#f + 1] = field end
    local sub = function(s) return (string.gsub(s, "{(%d)}", function(k) return f[tonumber(k)] end)) end
    local h = { Host = wrk.headers["Host"] }
    for k, v in pairs(HEADERS) do h[k] = sub(v) end
    total = total + 1
    reqs[total] = wrk.format(${lua(method)}, sub(${lua(spec.path)}), h)
  end
end
request = function()
  i = i + 1
  if i > total then
    if ONCE then wrk.thread:stop(); return reqs[total] end
    i = 1
  end
  return reqs[i]
end
`;
  }
  const file = join(dir, `${name.replace(/[^A-Za-z0-9_-]+/g, '_')}.lua`);
  if (spec.paceMs !== undefined && !(Number(spec.paceMs) > 0)) throw new Error(`paceMs must be > 0: ${spec.paceMs}`);
  writeFileSync(file, body + (spec.paceMs === undefined ? '' : paced(spec.paceMs)) + DONE);
  return file;
}

/**
 * Runs wrk once. Returns `{ rps, requests, seconds, p50, p90, p99, max (ms), errors }`; `errors` counts
 * 4xx/5xx answers and socket errors (a benchmark of rejected requests is not a benchmark).
 */
export async function runWrk({ url, script, seconds, connections, cpu, timeoutSec = 10 }) {
  const argv = ['wrk', '-t1', `-c${connections}`, `-d${seconds}s`, `--timeout`, `${timeoutSec}s`, '-s', script, url];
  const r = await run(argv, { cpu, timeoutMs: (seconds + 60) * 1000 });
  const line = r.stdout.split('\n').reverse().find((l) => l.startsWith('{"requests"'));
  if (r.code !== 0 || line === undefined) throw new Error(`wrk failed (${r.code}): ${r.stderr || r.stdout}`);
  const j = JSON.parse(line);
  const secs = j.duration_us / 1e6;
  return {
    rps: j.requests / secs, requests: j.requests, seconds: secs,
    p50: j.p50_us / 1000, p90: j.p90_us / 1000, p99: j.p99_us / 1000, max: j.max_us / 1000,
    errors: j.bad_status + j.connect + j.read + j.write + j.timeout,
    badStatus: j.bad_status, socketErrors: j.connect + j.read + j.write + j.timeout,
  };
}
