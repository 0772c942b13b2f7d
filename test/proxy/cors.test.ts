/**
 * `routing.corsOrigins`: the admin port's Swagger UI may call the proxy port from its own origin, and no other
 * origin may. Preflights from a listed origin are answered by trackgate and never forwarded; credentials are
 * still required on the real request; no `Access-Control-Allow-Credentials`, ever.
 */
import { describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';

const ORIGIN = 'http://127.0.0.1:9999';
const gate = useGate({ config: { routing: { corsOrigins: [ORIGIN] } } });

const preflight = (origin: string) => fetch(`${gate.url}/rest/v2/whoami`, {
  method: 'OPTIONS',
  headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
});

describe('CORS for listed origins', () => {
  it('a listed origin\'s preflight: 204 with the allowed methods and headers, not forwarded, no credentials allowed', async () => {
    gate.up.received.length = 0;
    const res = await preflight(ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(res.headers.get('access-control-allow-headers')).toContain('authorization');
    expect(res.headers.get('access-control-allow-methods')).toContain('GET');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(gate.up.received).toHaveLength(0);
  });

  it('another origin\'s preflight is an ordinary request: 401, no CORS headers', async () => {
    const res = await preflight('http://evil.example');
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('the real request still needs a credential; answers name the origin', async () => {
    const bare = await fetch(`${gate.url}/rest/v2/whoami`, { headers: { origin: ORIGIN } });
    expect(bare.status).toBe(401);
    expect(bare.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const ok = await fetch(`${gate.url}/rest/v2/whoami`, { headers: { origin: ORIGIN, authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(ok.headers.get('vary')).toContain('Origin');
    const other = await fetch(`${gate.url}/rest/v2/whoami`, { headers: { origin: 'http://evil.example', authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
