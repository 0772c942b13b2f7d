/**
 * The slow-client limits apply on hot reload (COMMON rule: new keys are live): a reload that changes
 * `limits.*` is applied without a restart warning, and the new per-client connection bound, body pace and
 * the server's own head timeout take effect for the next connection or request.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { useGate } from '../helpers/gate.js';
import { portOf, rawRequest, RawConnection } from '../helpers/raw-http.js';


const gate = useGate({ config: { routes: [{ path: '/pub', access: 'public' }] } });

describe('limits on reload', () => {
  it('maxConnectionsPerClient, bodyIdleTimeoutMs and headersTimeoutMs change without a restart', async () => {
    const port = portOf(gate.url);
    const config = parse(readFileSync(gate.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(gate.configFile, stringify({ ...config, limits: { maxConnectionsPerClient: 1, bodyIdleTimeoutMs: 300, headersTimeoutMs: 1500 } }));
    const from = gate.logs.length;
    expect(gate.app.reload()).toBe(true);
    expect(gate.logRecords().slice(from).map((l) => l.msg)).not.toContain('config keys changed that take effect only after a restart');
    expect(gate.app.proxyServer.headersTimeout).toBe(1500);

    const held = await RawConnection.open(port);
    try {
      const refused = await rawRequest(port, 'GET /pub/x HTTP/1.1\r\nHost: x\r\n\r\n', { waitClose: true });
      expect(refused.responses[0]?.status).toBe(503);
      held.send('POST /pub/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\nabc');
      const [res] = await held.next(1, 3000);
      expect(res!.status).toBe(408);
    } finally {
      held.close();
    }
  });
});
