/**
 * The Basic form (src/authn/forms/basic.ts) through a real trackgate and a recording upstream: a valid
 * user:password is forwarded with a verifiable identity header and without the credential; none gets the challenge.
 */
import { describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';

const gate = useGate();

describe('Basic end to end', () => {
  it('forwards a valid Basic request with a verifiable identity header and no credentials', async () => {
    const res = await fetch(`${gate.url}/rest/v2/devices?x=1`, { headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(res.status).toBe(200);
    const rec = gate.up.received.at(-1)!;
    expect(rec.url).toBe('/rest/v2/devices?x=1');
    expect(rec.headers.authorization).toBeUndefined();
    const jwks = createLocalJWKSet(await (await fetch(`${gate.adminUrl}/.well-known/jwks.json`)).json() as JSONWebKeySet);
    const { payload } = await jwtVerify(rec.headers['x-identity-assertion'] as string, jwks, { issuer: 'trackgate-test', audience: 'upstream-test' });
    expect(payload).toMatchObject({ sub: DEMO.user, scheme: 'basic', kind: 'user', account: 'demo-account' });
  });

  it('answers 401 with a Basic challenge without credentials', async () => {
    const res = await fetch(`${gate.url}/rest/v2/devices`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="[^"]+", charset="UTF-8"$/);
    expect(await res.json()).toEqual({ error: 'TG_ERR_NO_CREDENTIALS', message: 'authentication required' });
  });
});
