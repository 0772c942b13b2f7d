/**
 * A disabled credential form is not built (buildRuntime asks the module for its carriers instead), yet its
 * carriers are still stripped before forwarding, with the options it has: a disabled form's secret must not
 * reach the upstream.
 */
import { describe, expect, it } from 'vitest';
import { startGate, useGate } from '../helpers/gate.js';

const PUBLIC = [{ path: '/public', access: 'public' }];

describe('a disabled form', () => {
  const gate = useGate(() => ({
    config: {
      authn: { remote: { enabled: false, forwardHeaders: ['Authorization', 'X-Legacy-Session'] } },
      routes: PUBLIC,
    },
  }));

  it('still has the carriers its options name stripped (remote: forwardHeaders)', async () => {
    const before = gate.up.received.length;
    const res = await fetch(`${gate.url}/public/x`, { headers: { 'x-legacy-session': 'legacy-secret', 'x-other': 'kept' } });
    expect(res.status).toBe(200);
    const rec = gate.up.received[before]!;
    expect(rec.headers['x-legacy-session']).toBeUndefined();
    expect(rec.headers['x-other']).toBe('kept');
  });

  it('is not built: a disabled bearer form does not warn about its plain-http token source, an enabled one does', async () => {
    // Never fetched: no token is presented.
    const issuers = [{ issuer: 'https://idp.example', jwksUrl: 'http://idp.example/jwks.json', audience: 'api' }];
    const warned = (logs: readonly string[]) => logs.some((l) => l.includes('outside token source is reached over plain http'));
    const off = await startGate({ up: gate.up, config: { authn: { bearer: { enabled: false, external: { issuers } } } } });
    try {
      expect(warned(off.logs)).toBe(false);
    } finally {
      await off.close();
    }
    const on = await startGate({ up: gate.up, config: { authn: { bearer: { enabled: true, external: { issuers } } } } });
    try {
      expect(warned(on.logs)).toBe(true);
    } finally {
      await on.close();
    }
  });
});
