/**
 * A WebSocket handshake meeting a faulty upstream (src/proxy/upgrade-upstream.ts, not the forwarder): an upstream that
 * never answers gets the client a 504 after `upstream.headersTimeoutMs`; an upstream that refuses the upgrade
 * with a chunked body has its refusal relayed framed; a refusal whose body breaks off or stalls (past
 * `upstream.bodyTimeoutMs`) is cut, and the client's connection closed, not left open.
 */
import { describe, expect, it } from 'vitest';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { probe } from '../reliability/faults-lib/probe.js';
import { metric } from '../helpers/metrics.js';
import { portOf } from '../helpers/raw-http.js';
import { useFaultyGate } from './faulty-gate.js';

const HANDSHAKE = `GET /ws HTTP/1.1\r\nHost: gate\r\nAuthorization: ${basicAuth(DEMO.user, DEMO.password)}\r\nConnection: Upgrade\r\n`
  + 'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

const faulty = useFaultyGate();

/** The handshake's outcome (see probe.ts), and how long it took. */
async function handshake(): Promise<{ outcome: string; ms: number }> {
  const t0 = Date.now();
  const outcome = await probe(portOf(faulty.gate.url), HANDSHAKE, 8000, { upgrade: true }).outcome;
  return { outcome, ms: Date.now() - t0 };
}

describe('WebSocket handshake, faulty upstream', () => {
  it('upgrades when the upstream answers 101', async () => {
    faulty.up.fault = 'ok';
    expect((await handshake()).outcome).toBe('101');
  });

  it('answers 504 when the upstream does not answer within headersTimeoutMs, and counts it', async () => {
    faulty.up.fault = 'slow-headers';
    faulty.up.slowMs = 5000;
    const { outcome, ms } = await handshake();
    expect(outcome).toBe('504 TG_ERR_UPSTREAM_TIMEOUT');
    expect(ms).toBeLessThan(3000);
    expect(await metric(faulty.gate.adminUrl, 'trackgate_upstream_errors_total', { kind: 'timeout' })).toBe(1);
  });

  it('relays a refusal with a chunked body framed, so the client reads it whole', async () => {
    faulty.up.fault = 'chunked-404';
    expect((await handshake()).outcome).toBe('404');
  });

  it('cuts a refusal whose body breaks off, closing the client connection', async () => {
    faulty.up.fault = 'short-body';
    expect((await handshake()).outcome).toBe('cut');
  });

  it('cuts a refusal whose body stalls past bodyTimeoutMs', async () => {
    faulty.up.fault = 'stall-mid-body';
    const { outcome, ms } = await handshake();
    expect(outcome).toBe('cut');
    expect(ms).toBeLessThan(5000);
  });
});
