/**
 * Reliability: slow clients (issue 13, item 1 and the slowloris part of item 6). Against one real trackgate
 * process with the default pool (upstream.connections 128): slowloris heads, slow bodies on a public path,
 * slow streamed bodies with one valid credential, and clients that never read a large response. Meanwhile
 * other clients (another address, another credential) keep sending requests; each class records how many
 * of theirs were answered 200 within OTHER_TIMEOUT_MS and their p99. After each attack the process's file
 * descriptors come back to where they were (no leaked connection).
 *
 * Attackers use 127.0.0.2 and the other clients 127.0.0.1, so per-address limits tell them apart.
 */
import { mkdtempSync, copyFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type ClusterProc } from '../helpers/cluster-process.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';
import { slowBody, slowloris, type SlowClient } from '../helpers/slow-client.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { recordRow } from './record.js';

const ATTACKER = '127.0.0.2';
const OTHER_TIMEOUT_MS = 2000;
const ATTACK_MS = 4000;
const AUTH = basicAuth(DEMO.user, DEMO.password);
/** The same user's web-service key: another credential, so another client for the upstream share. */
const OTHER_AUTH = basicAuth(DEMO.user, DEMO.webServiceKey);
// More than the loopback socket buffers and trackgate's own absorb (~8 MiB per connection here), so the reader stalls.
const BIG = 64 * 1024 * 1024;
/** Requests the upstream has received and not finished answering; bytes of big responses it has produced. */
let atUpstream = 0;
let bigBytes = 0;

let dir: string;
let up: RecordingUpstream;
let gate: ClusterProc;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-slow-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  up = await startRecordingUpstream();
  up.server.on('request', (_req, res) => { atUpstream++; res.once('close', () => atUpstream--); });
  const plain = up.respond;
  up.respond = (req, res, rec) => {
    if (!req.url!.startsWith('/pub/big')) { plain(req, res, rec); return; }
    let left = BIG;
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG) });
    new Readable({ read() { if (left <= 0) { this.push(null); return; } left -= chunk.length; bigBytes += chunk.length; this.push(chunk); } }).pipe(res);
  };
  gate = await startCluster({
    dir, name: 'slow',
    config: {
      listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, upstream: { url: up.url },
      store: { url: `sqlite:${join(dir, 'store.sqlite')}` }, accountsFile: 'accounts.yaml', watch: false,
      logging: { level: 'info', access: false },
      routes: [{ path: '/pub', access: 'public' }],
      // A short head timeout so the slowloris class fits the suite's time box; everything else is default.
      limits: { headersTimeoutMs: 2000 },
    },
  });
  port = Number(new URL(gate.proxy).port);
  // Warm the validation cache for both credentials.
  for (const a of [AUTH, OTHER_AUTH]) expect((await fetch(`${gate.proxy}/warm`, { headers: { authorization: a } })).status).toBe(200);
});
afterAll(async () => {
  gate?.kill();
  await up?.close();
  rmSync(dir, { recursive: true, force: true });
});

const fds = (): number => readdirSync(`/proc/${gate.child.pid}/fd`).length;

const until = (check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> => waitFor(check, ms, 50);

interface OthersResult { tried: number; failed: number; p99: number }

/**
 * Four other clients (another address on a public path; another credential than the attackers'), sending
 * one request after another until `stop()`.
 */
function others(): { stop(): Promise<OthersResult> } {
  const times: number[] = [];
  let failed = 0;
  let running = true;
  const loop = async (path: string, headers: Record<string, string>) => {
    while (running) {
      const t0 = performance.now();
      try {
        const res = await fetch(`${gate.proxy}${path}`, { headers, signal: AbortSignal.timeout(OTHER_TIMEOUT_MS) });
        await res.arrayBuffer();
        if (res.status !== 200) failed++;
      } catch {
        failed++;
      }
      times.push(performance.now() - t0);
      await sleep(20); // a client's pace, not a wait for a result
    }
  };
  const loops = [loop('/pub/other', {}), loop('/other', { authorization: OTHER_AUTH }), loop('/other', { authorization: OTHER_AUTH }), loop('/pub/other2', {})];
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      times.sort((a, b) => a - b);
      return { tried: times.length, failed, p99: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))] ?? 0 };
    },
  };
}

/** Runs `attack` for ATTACK_MS while the other clients are measured; then stops it and checks for leaks. */
async function during(cls: string, attack: () => { stop(): void; ready(): boolean | Promise<boolean> }, extra?: () => Promise<{ failures: number; note: string }>) {
  const baseline = fds();
  const a = attack();
  const ready = await until(a.ready, 15000);
  const o = others();
  await sleep(ATTACK_MS);
  const res = await o.stop();
  const more = extra === undefined ? { failures: 0, note: '' } : await extra();
  a.stop();
  // Upstream keep-alive connections opened for the attack idle out after upstream.keepAliveTimeoutMs (4 s).
  const leakFree = await until(() => fds() <= baseline + 8, 10000);
  const figure = `others: ${res.tried - res.failed}/${res.tried} answered, p99 ${res.p99.toFixed(1)} ms${more.note}${leakFree ? '' : `; fds ${baseline} → ${fds()}`}`;
  recordRow({ cls, tried: res.tried, failures: res.failed + more.failures + (ready ? 0 : 1) + (leakFree ? 0 : 1), figure });
  expect(ready, `the attack got going (upstream: ${atUpstream} open)`).toBe(true);
  expect(res.failed, figure).toBe(0);
  expect(res.p99).toBeLessThan(OTHER_TIMEOUT_MS);
  expect(more.failures, more.note).toBe(0);
  expect(leakFree, `file descriptors after the attack: ${baseline} → ${fds()}`).toBe(true);
}

function many(n: number, make: () => SlowClient): { stop(): void; clients: SlowClient[] } {
  const clients = Array.from({ length: n }, make);
  return { clients, stop: () => { for (const c of clients) c.stop(); } };
}

describe('slow clients (upstream.connections 128)', () => {
  it('slow headers: 300 slowloris connections; each closed within headersTimeoutMs + 1.5 s', async () => {
    let attack: ReturnType<typeof many> | undefined;
    const t0 = Date.now();
    await during('slow clients: slowloris (300 connections)', () => {
      attack = many(300, () => slowloris(port, { everyMs: 500, localAddress: ATTACKER }));
      return { stop: () => attack!.stop(), ready: () => attack!.clients.every((c) => c.socket.readyState === 'open' || c.closed()) };
    }, async () => {
      const closedInTime = await until(() => attack!.clients.every((c) => c.closed()), Math.max(0, 2000 + 1500 - (Date.now() - t0)));
      const open = attack!.clients.filter((c) => !c.closed()).length;
      return { failures: closedInTime ? 0 : open, note: closedInTime ? '; every slowloris closed within 3.5 s' : `; slowloris still open after 3.5 s: ${open}` };
    });
  });

  it('slow bodies on a public path: 300 connections trickling small bodies', async () => {
    await during('slow clients: slow bodies, public path (300 connections)', () => {
      const attack = many(300, () => slowBody(port, { path: '/pub/upload', declared: 4000, first: 10, everyMs: 500, localAddress: ATTACKER }));
      return { stop: attack.stop, ready: () => attack.clients.every((c) => c.socket.readyState === 'open') };
    });
  });

  it('slow bodies with one valid credential: 140 connections streaming large bodies slowly', async () => {
    await during('slow clients: slow bodies, one credential (140 connections)', () => {
      const attack = many(140, () => slowBody(port, { path: '/upload', declared: 10_000_000, first: 70_000, everyMs: 500, headers: { authorization: AUTH }, localAddress: ATTACKER }));
      // Authenticated, and holding upstream connections (their share of them, or, without one, all).
      return { stop: attack.stop, ready: () => attack.clients.every((c) => c.socket.readyState === 'open') && atUpstream >= 64 };
    });
  });

  it('slow reads: 50 clients that never read a 64 MiB response', async () => {
    const sockets: Socket[] = [];
    await during('slow clients: slow reads (50 connections)', () => {
      for (let i = 0; i < 50; i++) {
        const s = connect({ host: '127.0.0.1', port, localAddress: ATTACKER });
        s.on('error', () => undefined);
        s.once('connect', () => { s.write('GET /pub/big HTTP/1.1\r\nHost: x\r\n\r\n'); s.pause(); });
        sockets.push(s);
      }
      // Every response started, and the socket buffers between are full: nothing moves any more.
      let last = -1;
      let stillSince = Date.now();
      const settled = (): boolean => {
        if (bigBytes !== last) { last = bigBytes; stillSince = Date.now(); }
        return atUpstream >= 50 && Date.now() - stillSince > 500;
      };
      return { stop: () => { for (const s of sockets) s.destroy(); }, ready: () => sockets.every((s) => s.readyState === 'open') && settled() };
    });
  });
});
