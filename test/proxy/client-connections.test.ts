/**
 * limits.maxConnectionsPerClient (issue 13, item 1): one client address cannot hold more than this many
 * connections; the next gets 503 TG_ERR_OVERLOADED and is closed, counted and logged, while other
 * addresses still connect. Closed connections are given back.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { metric } from '../helpers/metrics.js';
import { portOf, rawRequest } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

const sockets: Socket[] = [];

const gate = useGate({ config: { routes: [{ path: '/pub', access: 'public' }], limits: { maxConnectionsPerClient: 2 } } });
afterAll(async () => { for (const s of sockets) s.destroy(); });

function open(port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ...(localAddress !== undefined ? { localAddress } : {}) });
    sockets.push(s);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** One request on a new connection from `localAddress`; the status line's code (0: none before close). */
async function ask(port: number, localAddress?: string): Promise<number> {
  const s = await open(port, localAddress);
  let got = '';
  s.on('data', (c: Buffer) => { got += c.toString('latin1'); });
  s.write('GET /pub/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await new Promise<void>((r) => s.once('close', () => r()));
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(got)?.[1] ?? 0);
}

describe('connections per client address', () => {
  it('the third connection from one address is refused with 503; another address is served; a closed one is given back', async () => {
    const port = portOf(gate.url);
    const a = await open(port);
    await open(port);
    expect(await waitFor(async () => (await metric(gate.adminUrl, 'trackgate_shed_requests_total', { reason: 'client_connections' })) === 0)).toBe(true);
    const refused = await rawRequest(port, 'GET /pub/x HTTP/1.1\r\nHost: x\r\n\r\n', { waitClose: true });
    expect(refused.responses[0]?.status).toBe(503);
    expect(JSON.parse(refused.responses[0]!.body.toString()).error).toBe('TG_ERR_OVERLOADED');
    expect(refused.closed).toBe(true);
    expect(gate.up.received).toHaveLength(0);
    expect(await metric(gate.adminUrl, 'trackgate_shed_requests_total', { reason: 'client_connections' })).toBe(1);
    expect(gate.logRecords().some((l) => l.msg === 'request shed' && l.reason === 'client_connections' && l.ip === '127.0.0.1')).toBe(true);
    expect(await ask(port, '127.0.0.2')).toBe(200);
    a.destroy();
    expect(await waitFor(async () => (await ask(port)) === 200)).toBe(true);
  });
});

describe('a refused connection', () => {
  const one = useGate(() => ({ up: gate.up, config: { limits: { maxConnectionsPerClient: 1 } } }));

  it('gets its 503 at once, and the request it already sent is never forwarded', async () => {
    const port = portOf(one.url);
    const auth = `Authorization: ${basicAuth(DEMO.user, DEMO.password)}`;
    // Warm the validation cache (from another address): the refused request would then be authenticated at once.
    const warm = await rawRequest(port, `GET /warm HTTP/1.1\r\nHost: x\r\n${auth}\r\nConnection: close\r\n\r\n`, { localAddress: '127.0.0.2', waitClose: true });
    expect(warm.responses[0]?.status).toBe(200);
    await open(port);
    const refused = await rawRequest(port, `GET /refused HTTP/1.1\r\nHost: x\r\n${auth}\r\n\r\n`, { waitClose: true });
    expect(refused.responses).toHaveLength(1);
    expect(refused.responses[0]?.status).toBe(503);
    expect(refused.closed).toBe(true);
    // A request answered after it: the refused one, had it been read, would have reached the upstream first.
    const after = await rawRequest(port, `GET /after HTTP/1.1\r\nHost: x\r\n${auth}\r\nConnection: close\r\n\r\n`, { localAddress: '127.0.0.2', waitClose: true });
    expect(after.responses[0]?.status).toBe(200);
    expect(gate.up.received.map((r) => r.url)).not.toContain('/refused');
    expect(await waitFor(async () => (await metric(one.adminUrl, 'trackgate_inflight_requests')) === 0)).toBe(true);
  });
});
