/**
 * Graceful shutdown of the real process (`node bin/trackgate.js --config FILE`): on SIGTERM readiness turns
 * 503, new connections are refused, a request in flight completes, and the process exits 0 within the grace
 * period; a request longer than `shutdown.graceMs` is cut and the process still exits 0.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';
import { onLines } from '../helpers/lines.js';
import { keepAliveLoad } from '../helpers/keepalive-load.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TRACKGATE_')));

interface Proc {
  child: ChildProcess;
  proxy: string;
  admin: string;
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

let dir: string;
let up: RecordingUpstream;
let delayMs = 500;
const procs: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-shutdown-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  up = await startRecordingUpstream();
  up.respond = (_req, res) => {
    const t = setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('slow ok'); }, delayMs);
    res.on('close', () => clearTimeout(t));
  };
});
afterEach(() => { for (const c of procs.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
afterAll(async () => { await up.close(); rmSync(dir, { recursive: true, force: true }); });

let n = 0;
async function startProcess(graceMs: number): Promise<Proc> {
  const i = n++;
  const configFile = join(dir, `trackgate-${i}.yaml`);
  writeFileSync(configFile, stringify({
    listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, upstream: { url: up.url },
    store: { url: `sqlite:${join(dir, `store-${i}.sqlite`)}` }, accountsFile: 'accounts.yaml',
    shutdown: { graceMs }, watch: false, logging: { level: 'info' },
  }));
  const child = spawn(process.execPath, [join(ROOT, 'bin/trackgate.js'), '--config', configFile], { cwd: dir, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(child);
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
  const listening = new Promise<{ proxy: string; admin: string }>((resolve, reject) => {
    onLines(child.stdout!, (line) => {
      lines.push(line);
      const rec = JSON.parse(line) as { msg?: string; proxy?: string; admin?: string };
      if (rec.msg === 'trackgate listening') resolve({ proxy: rec.proxy!, admin: rec.admin! });
    });
    child.on('exit', (code) => reject(new Error(`trackgate exited (${code}) before listening: ${stderr}`)));
    setTimeout(() => reject(new Error(`trackgate did not start: ${stderr}`)), 15000);
  });
  const { proxy, admin } = await listening;
  return { child, proxy: `http://${proxy}`, admin: `http://${admin}`, lines, exited };
}

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
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
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
    p.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));

    const ready = await get(`${p.admin}/readyz`);
    // Readiness fails while draining (or the admin port is already gone).
    if ('status' in ready) expect(ready).toMatchObject({ status: 503, body: expect.stringContaining('shutting_down') });
    else expect(ready.error).toBe('ECONNREFUSED');
    expect(await get(`${p.proxy}/other`, AUTH)).toEqual({ error: 'ECONNREFUSED' });

    expect(await inflight).toEqual({ status: 200, body: 'slow ok' });
    const exit = await p.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - sent).toBeLessThan(graceMs);
    expect(await get(`${p.admin}/healthz`)).toEqual({ error: 'ECONNREFUSED' });
    const msgs = p.lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
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
    p.child.kill('SIGTERM');
    const result = await inflight;
    expect('error' in result || result.status !== 200, JSON.stringify(result)).toBe(true);
    const exit = await p.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - sent).toBeLessThan(graceMs + 2000);
    expect(exit.at - sent).toBeGreaterThanOrEqual(graceMs - 50);
    const msgs = p.lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
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
    p.child.kill('SIGTERM');
    const exit = await p.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - sent).toBeLessThan(3000); // far below the 5 s grace: nothing to wait for
  });
});
