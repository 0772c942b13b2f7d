/**
 * limits.headersTimeoutMs is honoured promptly (issue 13, item 6): Node enforces it only when it sweeps its
 * connections, every 30 s by default, so a slowloris held its socket ~40 s against a 20 s limit. trackgate
 * sets the sweep to at most a quarter of the limit (at most 1 s).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { slowloris, type SlowClient } from '../helpers/slow-client.js';
import { metric } from '../helpers/metrics.js';
import { portOf } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

const clients: SlowClient[] = [];

const gate = useGate({ config: { limits: { headersTimeoutMs: 1000 } } });
afterAll(async () => { for (const c of clients) c.stop(); });

describe('slowloris', () => {
  it('a request head still unfinished after headersTimeoutMs (1 s) is answered 408 and closed within ~2 s', async () => {
    const t0 = Date.now();
    const c = slowloris(portOf(gate.url), { everyMs: 100 });
    clients.push(c);
    expect(await waitFor(() => c.closed(), 6000)).toBe(true);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(2500);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(c.received()).toContain('"error":"TG_ERR_BAD_REQUEST"');
    expect(await metric(gate.adminUrl, 'trackgate_rejected_requests_total', { code: 'TG_ERR_BAD_REQUEST' })).toBeGreaterThanOrEqual(1);
    expect(gate.up.received).toHaveLength(0);
  });
});
