/**
 * The bench's paced load (bench/lib/wrk.js `paceMs`): real wrk (Debian package, installed by .ci/run) against a
 * real server on loopback holds about the offered rate instead of saturating the server.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface WrkResult { rps: number; requests: number; errors: number; p99: number }
interface Wrk {
  writeScript(dir: string, name: string, spec: { path: string; headers?: Record<string, string>; paceMs?: number }): string;
  runWrk(opts: { url: string; script: string; seconds: number; connections: number }): Promise<WrkResult>;
}
// A path import: bench/ is plain JavaScript, outside the typed build.
const wrk = (await import(pathToFileURL(join(import.meta.dirname, '..', '..', 'bench', 'lib', 'wrk.js')).href)) as Wrk;

let server: Server;
let url: string;
let dir: string;

beforeAll(async () => {
  server = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('ok'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  url = `http://127.0.0.1:${addr.port}`;
  dir = mkdtempSync(join(tmpdir(), 'trackgate-pacing-'));
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('bench: paced wrk load', () => {
  it('holds about connections / paceMs requests per second, far below what the same server takes unpaced', async () => {
    // 20 connections × one request per 20 ms on average = 1000 requests/s offered.
    const paced = await wrk.runWrk({ url, script: wrk.writeScript(dir, 'paced', { path: '/', paceMs: 20 }), seconds: 3, connections: 20 });
    expect(paced.errors).toBe(0);
    expect(paced.rps).toBeGreaterThan(750);
    expect(paced.rps).toBeLessThan(1100);
    const full = await wrk.runWrk({ url, script: wrk.writeScript(dir, 'full', { path: '/' }), seconds: 2, connections: 20 });
    expect(full.errors).toBe(0);
    expect(full.rps).toBeGreaterThan(paced.rps * 2);
  }, 30_000);

  it('writes the think time as wrk\'s delay() hook, and refuses a pace that is not a positive number', () => {
    const text = readFileSync(wrk.writeScript(dir, 'script', { path: '/x', paceMs: 25 }), 'utf8');
    expect(text).toMatch(/^delay = function\(\)$/m);
    expect(text).toContain('local PACE_MS = 25');
    expect(readFileSync(wrk.writeScript(dir, 'plain', { path: '/x' }), 'utf8')).not.toContain('delay');
    expect(() => wrk.writeScript(dir, 'bad', { path: '/x', paceMs: 0 })).toThrow(/paceMs/);
  });
});
