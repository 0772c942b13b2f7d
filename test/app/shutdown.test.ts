/**
 * Graceful shutdown of the real process (`node bin/trackgate.js --config FILE`): on SIGTERM readiness turns
 * 503, new connections are refused, a request in flight completes, and the process exits 0 within the grace
 * period; a request longer than `shutdown.graceMs` is cut and the process still exits 0.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster, type ClusterProc } from '../helpers/cluster-process.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';
import { keepAliveLoad } from '../helpers/keepalive-load.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
let up: RecordingUpstream;
let delayMs = 500;
const procs: ClusterProc[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-shutdown-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  up = await startRecordingUpstream();
  up.respond = (_req, res) => {
    const t = setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('slow ok'); }, delayMs);
    res.on('close', () => clearTimeout(t));
  };
});
afterEach(() => { for (const p of procs.splice(0)) p.kill(); });
afterAll(async () => { await up.close(); rmSync(dir, { recursive: true, force: true }); });

let n = 0;
/** One trackgate process (a single worker) in front of the slow upstream. */
async function startProcess(graceMs: number): Promise<ClusterProc> {
  const i = n++;
  const p = await startCluster({
    dir, name: `trackgate-${i}`,
    config: {
      listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, upstream: { url: up.url },
      store: { url: `sqlite:${join(dir, `store-${i}.sqlite`)}` }, accountsFile: 'accounts.yaml',
      shutdown: { graceMs }, watch: false, logging: { level: 'info' },
    },
  });
  procs.push(p);
  return p;
}

/** When the process exited (epoch ms), and how. */
const exitOf = (p: ClusterProc): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }> =>
  p.exited.then((e) => ({ ...e, at: Date.now() }));

/** One request on a fresh connection (no keep-alive pool): resolves with status and body, or the error code. */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

async function until(check: () => boolean, ms: number): Promise<void> {
  if (!(await waitFor(check, ms, 5))) throw new Error(`timed out after ${ms} ms`);
}

const AUTH = { authorization: basicAuth(DEMO.user, DEMO.password) };

describe('SIGTERM', () => {
  it('drains: readiness 503, new connections refused, the in-flight request completes, exit 0 within the grace period', async () => {
    delayMs = 500;
    const graceMs = 5000;
    const p = await startProcess(graceMs);
    expect((await get(`${p.admin}/readyz`))).toMatchObject({ status: 200 });
    const before = up.received.length;
    const inflight = get(`${p.proxy}/slow`, AUTH);
    await until(() => up.received.length > before, 5000); // authenticated and forwarded: now in flight
    const sent = Date.now();
    const exited = exitOf(p);
    p.child.kill('SIGTERM');
    await p.waitFor((r) => r.msg === 'shutting down: draining in-flight requests', 5000);

    const ready = await get(`${p.admin}/readyz`);
    // Readiness fails while draining (or the admin port is already gone).
    if ('status' in ready) expect(ready).toMatchObject({ status: 503, body: expect.stringContaining('shutting_down') });
    else expect(ready.error).toBe('ECONNREFUSED');
    expect(await get(`${p.proxy}/other`, AUTH)).toEqual({ error: 'ECONNREFUSED' });

    expect(await inflight).toEqual({ status: 200, body: 'slow ok' });
    const exit = await exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - sent).toBeLessThan(graceMs);
    expect(await get(`${p.admin}/healthz`)).toEqual({ error: 'ECONNREFUSED' });
    const msgs = p.records.map((r) => r.msg);
    expect(msgs).toEqual(expect.arrayContaining(['shutting down: draining in-flight requests', 'stopped']));
    expect(msgs).not.toContain('grace period over; closing remaining connections');
  });

  it('a request longer than shutdown.graceMs is cut, and the process still exits 0', async () => {
    delayMs = 10_000;
    const graceMs = 300;
    const p = await startProcess(graceMs);
    const before = up.received.length;
    const inflight = get(`${p.proxy}/very-slow`, AUTH);
    await until(() => up.received.length > before, 5000);
    const sent = Date.now();
    const exited = exitOf(p);
    p.child.kill('SIGTERM');
    const result = await inflight;
    expect('error' in result || result.status !== 200, JSON.stringify(result)).toBe(true);
    const exit = await exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - sent).toBeLessThan(graceMs + 2000);
    expect(exit.at - sent).toBeGreaterThanOrEqual(graceMs - 50);
    const msgs = p.records.map((r) => r.msg);
    expect(msgs).toContain('grace period over; closing remaining connections');
  });

  it('keep-alive clients under load lose no request: responses say Connection: close, idle connections close after', async () => {
    delayMs = 2;
    const [p, other] = await Promise.all([startProcess(5000), startProcess(5000)]);
    const load = keepAliveLoad({ primary: p.proxy, fallback: other.proxy, clients: 8, path: '/ka', headers: AUTH });
    const before = up.received.length;
    await until(() => up.received.length > before + 200, 10000); // every client is going, on warm connections
    p.child.kill('SIGTERM');
    const exit = await p.exited;
    const afterExit = up.received.length;
    await until(() => up.received.length > afterExit + 100, 10000); // and carries on with the other replica
    const r = await load.stop();
    other.child.kill('SIGTERM');
    expect(r.failures, JSON.stringify(r)).toEqual([]);
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(r.closeHeaders).toBeGreaterThanOrEqual(1);
    expect(r.failovers).toBe(8);
  });

  it('an idle instance exits 0 at once', async () => {
    const p = await startProcess(5000);
    expect(await get(`${p.proxy}/x`)).toMatchObject({ status: 401 }); // leaves no request in flight
    const sent = Date.now();
    const exited = exitOf(p);
    p.child.kill('SIGTERM');
    const exit = await exited;
    expect(exit.code).toBe(0);
    expect(exit.at - sent).toBeLessThan(3000); // far below the 5 s grace: nothing to wait for
  });
});
