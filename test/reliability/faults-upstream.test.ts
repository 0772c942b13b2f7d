/**
 * Upstream faults against a real trackgate process: the upstream down (connection refused), SIGKILLed in the
 * middle of its answers, resetting, too slow, stalling mid-body, and answering garbage (an invalid status line,
 * noise, bad or overflowing chunk sizes, a 128 KiB header, ambiguous or conflicting framing). Each request gets
 * a defined 502/504 JSON answer, or its partial answer is cut (the connection closes before the response is
 * complete: nothing a client could take for a whole response); never a 500, never a client left hanging. Once
 * the upstream behaves again the next requests are answered, on a fresh connection and on a keep-alive one
 * that saw the fault. Afterwards the process is alive, wrote nothing to stderr, logged no credential, and its
 * open file descriptors are back to their baseline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { metric } from '../helpers/metrics.js';
import { waitFor } from '../helpers/wait.js';
import { forEachBounded } from './faults-lib/bounded.js';
import { startFaultyUpstream, type Fault, type FaultyUpstream } from './faults-lib/faulty-upstream.js';
import { gateFolder, type GateFolder, type GateProc } from './faults-lib/gate-process.js';
import { KeepAliveConn } from './faults-lib/keepalive-conn.js';
import { probe } from './faults-lib/probe.js';
import { startUpstreamProcess, type UpstreamProcess } from './faults-lib/upstream-process.js';
import { recordRow } from './record.js';

const PASSWORD = DEMO.password;
const AUTH = basicAuth(DEMO.user, PASSWORD);
/** Requests per fault class, and after it (the upstream healthy again). */
const CASES = 12;
const HEADERS_TIMEOUT_MS = 300;
const BODY_TIMEOUT_MS = 500;
/** The body of the upload cases: larger than the socket buffers, so it is still on its way when the upstream fails. */
const UPLOAD_BYTES = 4 * 1024 * 1024;

const UNAVAILABLE = '502 TG_ERR_UPSTREAM_UNAVAILABLE';
const TIMEOUT = '504 TG_ERR_UPSTREAM_TIMEOUT';
/** A partial answer cut off, or (the head not yet sent) a connection closed without one. */
const CUT = ['cut', 'closed'];

let up: FaultyUpstream;
let folder: GateFolder;
let gate: GateProc;
let port: number;
let baseline: number;
/** The upstream process of the SIGKILL case (killed in afterAll too, should that case fail early). */
let killedUpstream: UpstreamProcess | undefined;
const rows: { cls: string; failures: number }[] = [];

const head = (path: string, close = true): string =>
  `GET ${path} HTTP/1.1\r\nHost: gate\r\nAuthorization: ${AUTH}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;

beforeAll(async () => {
  up = await startFaultyUpstream();
  folder = await gateFolder({
    upstream: { url: up.url, headersTimeoutMs: HEADERS_TIMEOUT_MS, bodyTimeoutMs: BODY_TIMEOUT_MS, connectTimeoutMs: 1000, keepAliveTimeoutMs: 500 },
  });
  gate = await folder.start();
  port = Number(new URL(gate.proxy).port);
  const fresh = gate.fds();
  expect(await probe(port, head('/warm')).outcome).toBe('200');
  await waitFor(() => gate.fds() <= fresh, 5000);
  baseline = gate.fds();
});
afterAll(async () => {
  folder?.close();
  await killedUpstream?.kill();
  await up?.close();
});

/** `CASES` requests, 4 at a time; the outcome of each, counted. */
async function burst(path: string): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  await forEachBounded(Array.from({ length: CASES }, (_, i) => i), 4, async (i) => {
    const o = await probe(port, head(`${path}/${i}`)).outcome;
    seen.set(o, (seen.get(o) ?? 0) + 1);
  });
  return seen;
}

const UPGRADE = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: gate\r\nAuthorization: ${AUTH}\r\nConnection: Upgrade\r\n`
  + 'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

/** `CASES` WebSocket handshakes, 4 at a time: the first answer each got (a 101 is complete at its head). */
async function upgrades(path: string): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  await forEachBounded(Array.from({ length: CASES }, (_, i) => i), 4, async (i) => {
    const o = await probe(port, UPGRADE(`${path}/${i}`), 8000, { upgrade: true }).outcome;
    seen.set(o, (seen.get(o) ?? 0) + 1);
  });
  return seen;
}

const count = (seen: Map<string, number>, allowed: readonly string[]): number =>
  [...seen].filter(([o]) => allowed.includes(o)).reduce((n, [, k]) => n + k, 0);

const describeSeen = (seen: Map<string, number>): string => [...seen].map(([o, n]) => `${n}× ${o}`).join(', ');

/**
 * One fault class: the fault begins, a keep-alive client asks once, a burst of requests meets the fault, the
 * upstream recovers, and the keep-alive client and a second burst must then get 200s.
 */
async function faultClass(
  cls: string, allowed: readonly string[], begin: () => Promise<void>, recover: () => Promise<void>,
  during: () => Promise<Map<string, number>> = () => burst(`/${cls.replace(/\W+/g, '-')}`),
): Promise<void> {
  const keep = await KeepAliveConn.open(port);
  await begin();
  const duringKeep = await keep.request(head('/keep', false)).then((a) => a, () => undefined);
  const seen = await during();
  await recover();
  const after = await burst('/after');
  const keepAfter = keep.closed ? undefined : await keep.request(head('/keep-after', false)).then((a) => a.status, () => undefined);
  keep.close();
  const tried = [...seen.values()].reduce((a, b) => a + b, 0);
  const failures = (tried - count(seen, allowed)) + (CASES - count(after, ['200']));
  // A keep-alive connection that got trackgate's 502/504 stays usable (one whose answer was cut is closed).
  const keepFailed = duringKeep !== undefined && duringKeep.status >= 502 && !duringKeep.close && keepAfter !== 200;
  rows.push({ cls, failures: failures + (keepFailed ? 1 : 0) });
  recordRow({
    cls: `faults: upstream ${cls}`,
    tried: tried + CASES + 1,
    failures: failures + (keepFailed ? 1 : 0),
    figure: `${describeSeen(seen)}; recovered: ${describeSeen(after)}`,
  });
  expect(Object.fromEntries(seen), `${cls}: only ${allowed.join(' / ')}`).toEqual(Object.fromEntries([...seen].filter(([o]) => allowed.includes(o))));
  expect(Object.fromEntries(after)).toEqual({ 200: CASES });
  expect(keepFailed, 'the keep-alive connection works again').toBe(false);
  expect(gate.alive()).toBe(true);
}

describe('upstream faults', () => {
  it('down (connection refused) → 502, then served again once it is back', async () => {
    await faultClass('down (refused)', [UNAVAILABLE], () => up.stop(), () => up.start());
    expect(await metric(gate.admin, 'trackgate_upstream_errors_total', { kind: 'refused' })).toBeGreaterThanOrEqual(CASES);
  });

  it('SIGKILLed in the middle of its answers → every answer cut, 502 while it is down, served again once restarted', async () => {
    const begin = async (): Promise<void> => {
      await up.stop();
      killedUpstream = await startUpstreamProcess(up.port);
    };
    await faultClass('killed mid-response', [...CUT, UNAVAILABLE], begin, () => up.start(), async () => {
      const probes = Array.from({ length: CASES }, (_, i) => probe(port, head(`/stream/${i}`)));
      // Every client has the head and part of the body when the upstream dies.
      expect(await waitFor(() => probes.every((p) => p.received > 1000), 10_000)).toBe(true);
      await killedUpstream!.kill();
      const seen = new Map<string, number>();
      for (const o of await Promise.all(probes.map((p) => p.outcome))) seen.set(o, (seen.get(o) ?? 0) + 1);
      expect(Object.fromEntries(seen), 'every started answer is cut').toEqual({ cut: CASES });
      const down = await burst('/after-kill');
      for (const [o, n] of down) seen.set(o, (seen.get(o) ?? 0) + n);
      return seen;
    });
  });

  /** Each answer-level fault and what a request meeting it may get (a WebSocket handshake too, below). */
  const garbage: [Fault, readonly string[]][] = [
    ['reset', [UNAVAILABLE]],
    ['empty-reply', [UNAVAILABLE]],
    ['slow-headers', [TIMEOUT]],
    ['stall-mid-body', CUT],
    ['short-body', CUT],
    ['invalid-status-line', [UNAVAILABLE]],
    ['noise', [UNAVAILABLE]],
    ['bad-chunking', [...CUT, UNAVAILABLE]],
    ['chunk-size-overflow', [...CUT, UNAVAILABLE]],
    ['huge-headers', [UNAVAILABLE]],
    ['cl-and-te', [UNAVAILABLE, '200']],
    ['conflicting-lengths', [UNAVAILABLE]],
    // A well-formed refusal: relayed, framed so a client can read it.
    ['chunked-404', ['404']],
  ];
  it.each(garbage)('%s → a defined answer, then served again', async (fault, allowed) => {
    // Well past the timeout: undici checks its timers about every half second.
    up.slowMs = HEADERS_TIMEOUT_MS + 2000;
    await faultClass(fault, allowed, async () => { up.fault = fault; }, async () => { up.fault = 'ok'; });
  });

  // A request body on its way up when the upstream fails: the client reads the 502/504 (or the upstream's early
  // answer, relayed) whole, never a closed connection: trackgate answers, then drains the rest of the body
  // (bounded: src/proxy/lingering-close.ts) before it closes.
  const POST = (path: string): string => `POST ${path} HTTP/1.1\r\nHost: gate\r\nAuthorization: ${AUTH}\r\nConnection: close\r\n`
    + `Content-Type: application/octet-stream\r\nContent-Length: ${UPLOAD_BYTES}\r\n\r\n${'x'.repeat(UPLOAD_BYTES)}`;
  const uploadFaults: [Fault, readonly string[]][] = [
    ['reset', [UNAVAILABLE]],
    ['empty-reply', [UNAVAILABLE]],
    ['early-413', ['413', UNAVAILABLE]],
    ['slow-headers', [TIMEOUT]],
  ];
  it.each(uploadFaults)('upload (4 MiB POST), upstream %s → a defined answer, then served again', async (fault, allowed) => {
    up.slowMs = HEADERS_TIMEOUT_MS + 2000;
    up.fault = fault;
    const seen = new Map<string, number>();
    await forEachBounded(Array.from({ length: CASES }, (_, i) => i), 4, async (i) => {
      const o = await probe(port, POST(`/upload-${fault}/${i}`)).outcome;
      seen.set(o, (seen.get(o) ?? 0) + 1);
    });
    up.fault = 'ok';
    const after = await burst('/after-upload');
    const failures = (CASES - count(seen, allowed)) + (CASES - count(after, ['200']));
    rows.push({ cls: `upload ${fault}`, failures });
    recordRow({ cls: `faults: upstream ${fault}, during an upload`, tried: 2 * CASES, failures, figure: `${describeSeen(seen)}; recovered: ${describeSeen(after)}` });
    expect(Object.fromEntries(seen), `${fault}: only ${allowed.join(' / ')}`).toEqual(Object.fromEntries([...seen].filter(([o]) => allowed.includes(o))));
    expect(Object.fromEntries(after)).toEqual({ 200: CASES });
  });

  // The same faults met by a WebSocket handshake (its own upstream pool, not the forwarder's).
  const upgradeFaults: [Fault | 'down', readonly string[]][] = [['down', [UNAVAILABLE]], ...garbage];
  it.each(upgradeFaults)('WebSocket handshake, upstream %s → a defined answer, then upgrades again', async (fault, allowed) => {
    up.slowMs = HEADERS_TIMEOUT_MS + 2000;
    if (fault === 'down') await up.stop(); else up.fault = fault;
    const seen = await upgrades(`/ws-${fault}`);
    if (fault === 'down') await up.start(); else up.fault = 'ok';
    const after = await upgrades('/ws-after');
    const tried = [...seen.values()].reduce((a, b) => a + b, 0);
    const failures = (tried - count(seen, allowed)) + (CASES - count(after, ['101']));
    rows.push({ cls: `websocket ${fault}`, failures });
    recordRow({ cls: `faults: upstream ${fault}, WebSocket handshake`, tried: tried + CASES, failures, figure: `${describeSeen(seen)}; recovered: ${describeSeen(after)}` });
    expect(Object.fromEntries(seen), `${fault}: only ${allowed.join(' / ')}`).toEqual(Object.fromEntries([...seen].filter(([o]) => allowed.includes(o))));
    expect(Object.fromEntries(after)).toEqual({ 101: CASES });
    expect(gate.alive()).toBe(true);
  });

  it('afterwards: alive, nothing on stderr, no credential in the logs, no 500, fds back to baseline', async () => {
    const settled = await waitFor(() => gate.fds() <= baseline, 10_000, 100);
    const after = gate.fds();
    const logs = gate.records.map((r) => JSON.stringify(r)).join('\n');
    const leaked = [PASSWORD, AUTH.slice('Basic '.length)].filter((s) => logs.includes(s));
    const fiveHundreds = gate.records.filter((r) => r.status === 500).length;
    recordRow({
      cls: 'faults: upstream, after all classes',
      tried: rows.length,
      failures: rows.filter((r) => r.failures > 0).length + (settled ? 0 : 1) + leaked.length + fiveHundreds + (gate.alive() ? 0 : 1),
      figure: `trackgate fds ${baseline} before → ${after} after; ${fiveHundreds} answers 500; stderr ${gate.stderr().length} bytes`,
    });
    expect(gate.alive()).toBe(true);
    expect(gate.stderr()).toBe('');
    expect(leaked).toEqual([]);
    expect(fiveHundreds).toBe(0);
    expect(after, 'trackgate fds back to baseline').toBeLessThanOrEqual(baseline);
  });
});
