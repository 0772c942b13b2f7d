/**
 * A client that stops reading its response (issue 13, item 1: slow reads) holds an upstream connection only
 * for limits.sendIdleTimeoutMs: then it is disconnected, counted and logged, and the connection serves
 * others. A client that reads slowly but steadily is not cut.
 */
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { metric } from '../helpers/metrics.js';
import { portOf } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

const MiB = 1024 * 1024;

const gate = useGate({ config: { routes: [{ path: '/pub', access: 'public' }], upstream: { connections: 1 }, limits: { sendIdleTimeoutMs: 500 } } });
beforeAll(async () => {
  gate.up.respond = (req, res) => {
    if (!req.url!.startsWith('/pub/big')) { res.writeHead(200, { 'content-length': '2' }).end('ok'); return; }
    let left = 64 * MiB;
    const chunk = Buffer.alloc(64 * 1024, 0x63);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) });
    new Readable({ read() { if (left <= 0) { this.push(null); return; } left -= chunk.length; this.push(chunk); } }).pipe(res);
  };
});

describe('slow reads', () => {
  it('a client that reads nothing of a large response is cut after sendIdleTimeoutMs, and the upstream connection serves the next client', async () => {
    const s = connect({ host: '127.0.0.1', port: portOf(gate.url) });
    s.on('error', () => undefined);
    let closed = false;
    s.on('close', () => { closed = true; });
    s.once('connect', () => { s.write('GET /pub/big HTTP/1.1\r\nHost: x\r\n\r\n'); s.pause(); });
    expect(await waitFor(async () => (await metric(gate.adminUrl, 'trackgate_shed_requests_total', { reason: 'send_idle' })) === 1, 8000)).toBe(true);
    expect(gate.logRecords().some((l) => l.msg === 'request shed' && l.reason === 'send_idle')).toBe(true);
    const next = await fetch(`${gate.url}/pub/small`, { signal: AbortSignal.timeout(3000) });
    expect(await next.text()).toBe('ok');
    // A paused socket does not see the close; reading again, the client finds the response cut short.
    s.resume();
    expect(await waitFor(() => closed, 5000)).toBe(true);
  });

  it('a client reading the same response at its own pace gets all of it', async () => {
    const res = await fetch(`${gate.url}/pub/big`);
    let bytes = 0;
    for await (const c of res.body!) bytes += (c as Uint8Array).length;
    expect(bytes).toBe(64 * MiB);
  });
});
