import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';

const gate = useGate();

function post(headers: Record<string, string>): Promise<{ status: number; continued: boolean; connection: string | undefined }> {
  const u = new URL(gate.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: 'POST', path: '/upload', agent: false,
      headers: { expect: '100-continue', 'content-length': '5', ...headers } });
    let continued = false;
    req.on('continue', () => { continued = true; req.end('hello'); });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, continued, connection: res.headers.connection }));
    });
    req.on('error', reject);
  });
}

describe('Expect: 100-continue', () => {
  it('sends 100 Continue only after authentication, so a rejected client never uploads its body', async () => {
    const before = gate.up.received.length;
    const r = await post({});
    expect(r).toMatchObject({ status: 401, continued: false });
    // the body was never read: the connection is closed rather than left out of step
    expect(r.connection).toBe('close');
    expect(gate.up.received.length).toBe(before);
  });

  it('an authenticated client gets 100 Continue and its body reaches the upstream (without the Expect header)', async () => {
    const r = await post({ authorization: basicAuth(DEMO.user, DEMO.password) });
    expect(r).toMatchObject({ status: 200, continued: true });
    const rec = gate.up.received.at(-1)!;
    expect(rec.bodyBytes).toBe(5);
    expect(rec.headers.expect).toBeUndefined();
  });
});
