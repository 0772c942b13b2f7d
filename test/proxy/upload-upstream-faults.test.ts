/**
 * A streamed upload (a body larger than `limits.bufferBodyBytes`) meeting a failing upstream: the client reads
 * the defined answer (502 on a reset or an empty reply, 504 when the headers are late, the upstream's own early
 * 413 relayed) with `Connection: close`, every time, instead of a connection closed under it. The request body
 * still on its way is drained, not left to turn the close into a reset.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { forEachBounded } from '../reliability/faults-lib/bounded.js';
import type { Fault } from '../reliability/faults-lib/faulty-upstream.js';
import { classify, probe } from '../reliability/faults-lib/probe.js';
import { portOf } from '../helpers/raw-http.js';
import { useFaultyGate } from './faulty-gate.js';

const UPLOAD_BYTES = 4 * 1024 * 1024;
/** What the client of `uploadAfterAnswer` sends before it reads the answer. */
const FIRST = 1024 * 1024;
const CHUNK = Buffer.alloc(1024 * 1024, 'x');
const CASES = 10;

const faulty = useFaultyGate();

const HEAD = (path: string, length = UPLOAD_BYTES): string => `POST ${path} HTTP/1.1\r\nHost: gate\r\nAuthorization: ${basicAuth(DEMO.user, DEMO.password)}\r\n`
  + `Connection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`;
const POST = (path: string): string => HEAD(path) + 'x'.repeat(UPLOAD_BYTES);

/** `CASES` uploads, 2 at a time: how many got each outcome (see probe.ts). */
async function uploads(fault: Fault): Promise<Record<string, number>> {
  faulty.up.fault = fault;
  // Later than any 4 MiB upload takes on a loaded machine, so the headers are late for every request (the 504
  // comes headersTimeoutMs after the body, long before this).
  faulty.up.slowMs = 12_000;
  const seen: Record<string, number> = {};
  await forEachBounded(Array.from({ length: CASES }, (_, i) => i), 2, async (i) => {
    const o = await probe(portOf(faulty.gate.url), POST(`/upload/${fault}/${i}`), 15_000).outcome;
    seen[o] = (seen[o] ?? 0) + 1;
  });
  faulty.up.fault = 'ok';
  return seen;
}

describe('streamed upload, upstream fails while the body is on its way', () => {
  it.each<[Fault, string]>([
    ['reset', '502 TG_ERR_UPSTREAM_UNAVAILABLE'],
    ['empty-reply', '502 TG_ERR_UPSTREAM_UNAVAILABLE'],
    ['slow-headers', '504 TG_ERR_UPSTREAM_TIMEOUT'],
    ['early-413', '413'],
  ])('upstream %s → %s, every time', async (fault, expected) => {
    expect(await uploads(fault)).toEqual({ [expected]: CASES });
  });
});

/**
 * A client that sends its first MiB, reads the answer, then sends `rest` more bytes of a body declared `declared`
 * long (as a client does that does not watch for an early answer): the answer it got, whether it said
 * `Connection: close`, and whether the connection then ended cleanly (a close only after the body was taken,
 * not a reset under the client's writes).
 */
function uploadAfterAnswer(fault: Fault, rest = UPLOAD_BYTES - FIRST, declared = FIRST + rest): Promise<{ answer: string; close: boolean; reset: boolean; ms: number }> {
  faulty.up.fault = fault;
  const t0 = Date.now();
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port: portOf(faulty.gate.url) });
    const chunks: Buffer[] = [];
    let answer = 'closed';
    let reset = false;
    let answered = false;
    let sent = 0;
    // The rest in 1 MiB writes, each after the previous one drained, until all is sent or the connection ends.
    const send = (): void => {
      if (sent >= rest || sock.destroyed) { if (rest > 0) sock.end(); return; }
      sent += CHUNK.length;
      if (sock.write(CHUNK)) send(); else sock.once('drain', send);
    };
    sock.on('connect', () => sock.write(HEAD(`/upload/after/${fault}`, declared) + 'x'.repeat(FIRST)));
    sock.on('data', (c: Buffer) => {
      chunks.push(c);
      answer = classify(Buffer.concat(chunks), false);
      if (answer !== 'hung' && !answered) { answered = true; send(); }
    });
    sock.on('error', () => { reset = true; });
    sock.on('close', () => {
      faulty.up.fault = 'ok';
      resolve({ answer, close: /\r\nconnection: close\r\n/i.test(Buffer.concat(chunks).toString('latin1')), reset, ms: Date.now() - t0 });
    });
  });
}

describe('streamed upload, the client sends the rest of its body after the answer', () => {
  it.each<[Fault, string]>([
    ['reset', '502 TG_ERR_UPSTREAM_UNAVAILABLE'],
    ['empty-reply', '502 TG_ERR_UPSTREAM_UNAVAILABLE'],
    ['early-413', '413'],
  ])('upstream %s → %s with Connection: close, and the rest of the body is drained before a clean close', async (fault, expected) => {
    expect(await uploadAfterAnswer(fault)).toMatchObject({ answer: expected, close: true, reset: false });
  });

  it('drains within limits.lingerTimeoutMs and limits.lingerMaxBytes (live on reload), then closes anyway', async () => {
    const config = parse(readFileSync(faulty.gate.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(faulty.gate.configFile, stringify({ ...config, limits: { lingerTimeoutMs: 300, lingerMaxBytes: 1024 * 1024 * 1024 } }));
    expect(faulty.gate.app.reload()).toBe(true);
    // A client that stops sending after the answer: closed by the linger timeout, long before the body idle timeout (10 s).
    const stopped = await uploadAfterAnswer('reset', 0, UPLOAD_BYTES);
    expect(stopped.answer).toBe('502 TG_ERR_UPSTREAM_UNAVAILABLE');
    expect(stopped.ms).toBeLessThan(5000);
    // A client sending 64 MiB more: cut off past the byte cap (the timeout now out of the way), so its writes
    // meet a reset; an unbounded drain would take it all and close cleanly.
    writeFileSync(faulty.gate.configFile, stringify({ ...config, limits: { lingerTimeoutMs: 60_000, lingerMaxBytes: 64 * 1024 } }));
    expect(faulty.gate.app.reload()).toBe(true);
    expect(await uploadAfterAnswer('early-413', 64 * 1024 * 1024)).toMatchObject({ answer: '413', reset: true });
  });
});
