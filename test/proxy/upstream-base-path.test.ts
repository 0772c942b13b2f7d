/**
 * An upstream URL with a base path (`http://host:port/rest`): HTTP requests and WebSocket upgrades both go
 * to `<base><path>`, and in request-bound mode `htu` names the path the upstream actually receives, so the
 * demo upstream (which checks `htu` against its own request path) accepts them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { freePort } from '../helpers/ports.js';
import { verifyAssertion } from '../helpers/identity-assertion.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);

describe('recording upstream behind a base path', () => {
  let up: RecordingUpstream;
  let gate: TestGate;
  beforeAll(async () => {
    up = await startRecordingUpstream();
    gate = await startTrackgate({ upstreamUrl: `${up.url}/base/`, config: { identity: { bindToRequest: true } } });
  });
  afterAll(async () => { await gate.close(); await up.close(); });

  it('forwards to <base><path> and binds htu to that path', async () => {
    const res = await fetch(`${gate.url}/x/y?q=1&_token=s`, { headers: { authorization: AUTH } });
    expect(res.status).toBe(200);
    const rec = up.received.at(-1)!;
    expect(rec.url).toBe('/base/x/y?q=1');
    const { payload } = await verifyAssertion(gate.adminUrl, rec.headers['x-identity-assertion'] as string);
    expect(payload).toMatchObject({ htm: 'GET', htu: '/base/x/y' });
  });
});

describe('demo upstream behind a base path, request-bound', () => {
  let demo: DemoUpstream;
  let gate: TestGate;
  beforeAll(async () => {
    const port = await freePort();
    gate = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${port}/rest`, config: { identity: { bindToRequest: true } } });
    demo = await startDemoUpstream({ port, jwksUrl: `${gate.adminUrl}/.well-known/jwks.json`, issuer: 'trackgate-test', audience: 'upstream-test', livePeriodMs: 100 });
  });
  afterAll(async () => { await gate.close(); await demo.close(); });

  it('an HTTP request is accepted by the upstream (htu matches what it received)', async () => {
    const res = await fetch(`${gate.url}/v2/whoami`, { headers: { authorization: AUTH } });
    const body = await res.json() as Record<string, unknown>;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ sub: DEMO.user, htm: 'GET', htu: '/rest/v2/whoami' });
  });

  it('a WebSocket upgrade reaches <base><path> and is accepted', async () => {
    const ws = new WebSocket(`${gate.url.replace(/^http/, 'ws')}/v2/live`, { headers: { authorization: AUTH } });
    try {
      const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
        ws.once('message', (d) => resolve(JSON.parse(d.toString()) as Record<string, unknown>));
        ws.once('unexpected-response', (_q, res) => {
          let b = '';
          res.on('data', (c: Buffer) => { b += c.toString(); });
          res.on('end', () => reject(new Error(`handshake ${res.statusCode} ${b}`)));
        });
        ws.once('error', reject);
      });
      expect(first).toMatchObject({ device_id: expect.any(String), lat: expect.any(Number) });
    } finally {
      ws.close();
    }
  });
});
