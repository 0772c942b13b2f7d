/**
 * The admin port as the data path feeds it: request counts by scheme and outcome, auth attempts by result and
 * reason, the auth duration histogram split by cache outcome, the in-flight gauge; /healthz, and /readyz
 * turning 503 when the upstream goes away.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, startTrackgate } from '../helpers/trackgate.js';
import { metric, metricIn } from '../helpers/metrics.js';
import { waitFor } from '../helpers/wait.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);

const gate = useGate();

describe('metrics', () => {
  it('count requests, auth attempts and cache outcomes exactly', async () => {
    const get = (headers: Record<string, string> = {}) => fetch(`${gate.url}/m`, { headers }).then(async (r) => { await r.arrayBuffer(); return r.status; });
    expect(await get({ authorization: AUTH })).toBe(200); // miss
    expect(await get({ authorization: AUTH })).toBe(200); // hit
    expect(await get({ authorization: AUTH })).toBe(200); // hit
    expect(await get()).toBe(401); // no credentials
    expect(await get({ authorization: basicAuth(DEMO.user, 'wrong') })).toBe(401); // invalid
    expect(await get({ authorization: 'Basic !!' })).toBe(400); // malformed

    const text = await (await fetch(`${gate.adminUrl}/metrics`)).text();
    const m = (name: string, labels: Record<string, string>) => metricIn(text, name, labels);
    expect(m('trackgate_requests_total', { scheme: 'basic', outcome: 'forwarded', status_class: '2xx' })).toBe(3);
    expect(m('trackgate_requests_total', { scheme: 'none', outcome: 'rejected', status_class: '4xx' })).toBe(1);
    expect(m('trackgate_requests_total', { scheme: 'basic', outcome: 'rejected', status_class: '4xx' })).toBe(2);
    expect(m('trackgate_auth_attempts_total', { scheme: 'basic', result: 'success', reason: 'ok' })).toBe(3);
    expect(m('trackgate_auth_attempts_total', { scheme: 'none', result: 'failure', reason: 'no_credentials' })).toBe(1);
    expect(m('trackgate_auth_attempts_total', { scheme: 'basic', result: 'failure', reason: 'invalid' })).toBe(1);
    expect(m('trackgate_auth_attempts_total', { scheme: 'basic', result: 'failure', reason: 'malformed' })).toBe(1);
    expect(m('trackgate_auth_duration_seconds_count', { scheme: 'basic', cache: 'miss' })).toBe(1);
    expect(m('trackgate_auth_duration_seconds_count', { scheme: 'basic', cache: 'hit' })).toBe(2);
    // A miss runs scrypt; hits do not: the histogram tells them apart.
    const missSum = m('trackgate_auth_duration_seconds_sum', { scheme: 'basic', cache: 'miss' });
    const hitSum = m('trackgate_auth_duration_seconds_sum', { scheme: 'basic', cache: 'hit' });
    expect(missSum).toBeGreaterThan(hitSum);
    expect(m('trackgate_upstream_duration_seconds_count', { status_class: '2xx' })).toBe(3);
    expect(m('trackgate_identity_mints_total', {})).toBe(1);
    expect(m('trackgate_inflight_requests', {})).toBe(0);
  });

  it('the in-flight gauge counts a request held by the upstream', async () => {
    const held: ServerResponse[] = [];
    const original = gate.up.respond;
    gate.up.respond = (_req, res) => { held.push(res); };
    try {
      const pending = fetch(`${gate.url}/held`, { headers: { authorization: AUTH } });
      expect(await waitFor(() => held.length === 1, 3000)).toBe(true);
      expect(await metric(gate.adminUrl, 'trackgate_inflight_requests')).toBe(1);
      held[0]!.end('done');
      expect((await pending).status).toBe(200);
      expect(await waitFor(async () => (await metric(gate.adminUrl, 'trackgate_inflight_requests')) === 0, 2000)).toBe(true);
    } finally {
      gate.up.respond = original;
    }
  });
});

describe('health', () => {
  it('/healthz answers 200', async () => {
    const res = await fetch(`${gate.adminUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 with the upstream up and 503 once it is down', async () => {
    // A dedicated upstream and gate, so closing the upstream disturbs nothing else.
    const own = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => own.listen(0, '127.0.0.1', () => r()));
    const g = await startTrackgate({ upstreamUrl: `http://127.0.0.1:${(own.address() as AddressInfo).port}` });
    try {
      const ready = await fetch(`${g.adminUrl}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ status: 'ready', checks: { store: { ok: true }, upstream: { ok: true } } });
      own.closeAllConnections();
      await new Promise<void>((r) => own.close(() => r()));
      // The probe result is cached briefly (2 s), so poll.
      const down = await waitFor(async () => {
        const r = await fetch(`${g.adminUrl}/readyz`);
        return r.status === 503 ? await r.json() as Record<string, unknown> : undefined;
      }, 4000, 100);
      expect(down).toMatchObject({ status: 'not_ready', checks: { upstream: { ok: false, detail: 'ECONNREFUSED' } } });
      // And the data path answers 502 meanwhile; health stays 200.
      expect((await fetch(`${g.url}/x`, { headers: { authorization: AUTH } })).status).toBe(502);
      expect((await fetch(`${g.adminUrl}/healthz`)).status).toBe(200);
    } finally {
      await g.close();
      if (own.listening) await new Promise<void>((r) => own.close(() => r()));
    }
  });
});
