/**
 * What a recording upstream receives for an authenticated request: a valid identity header with the
 * documented claims, and none of the client's credentials, spoofed identity headers or hop-by-hop headers;
 * every other cookie, query parameter and header exactly as sent.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { portOf, rawRequest } from '../helpers/raw-http.js';
import { verifyAssertion } from '../helpers/identity-assertion.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);

const gate = useGate();
beforeEach(() => { gate.up.received.length = 0; });

/** Sends raw header lines (CRLF added) as an HTTP/1.1 request and returns the one upstream record. */
async function viaRaw(target: string, headerLines: string[]) {
  const conn = headerLines.some((l) => /^connection:/i.test(l)) ? [] : ['Connection: close'];
  const head = [`GET ${target} HTTP/1.1`, `Host: 127.0.0.1:${portOf(gate.url)}`, ...headerLines, ...conn].join('\r\n');
  const r = await rawRequest(portOf(gate.url), `${head}\r\n\r\n`);
  expect(r.responses[0]?.status, r.raw.toString('latin1')).toBe(200);
  expect(gate.up.received).toHaveLength(1);
  return gate.up.received[0]!;
}

describe('identity header', () => {
  it('is present, verifies against the JWKS and carries every documented claim', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await fetch(`${gate.url}/rest/v2/devices`, { headers: { authorization: AUTH } });
    expect(res.status).toBe(200);
    const token = gate.up.received[0]!.headers['x-identity-assertion'];
    expect(typeof token).toBe('string');
    const { payload, protectedHeader } = await verifyAssertion(gate.adminUrl, token as string);
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', typ: 'JWT' });
    expect(typeof protectedHeader.kid).toBe('string');
    expect(payload).toMatchObject({
      iss: 'trackgate-test', aud: 'upstream-test', sub: DEMO.user, scheme: 'basic', kind: 'user', account: 'demo-account',
    });
    expect(payload.iat).toBeGreaterThanOrEqual(before - 1);
    expect(payload.iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(payload.exp! - payload.iat!).toBe(60);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    // Nothing undocumented, nothing request-bound by default.
    expect(Object.keys(payload).sort()).toEqual(['account', 'aud', 'exp', 'iat', 'iss', 'jti', 'kind', 'scheme', 'sub']);
  });

  it('does not verify against another issuer or audience', async () => {
    await fetch(`${gate.url}/x`, { headers: { authorization: AUTH } });
    const token = gate.up.received[0]!.headers['x-identity-assertion'] as string;
    await expect(verifyAssertion(gate.adminUrl, token, { issuer: 'someone-else' })).rejects.toThrow(/iss/);
    await expect(verifyAssertion(gate.adminUrl, token, { audience: 'someone-else' })).rejects.toThrow(/aud/);
  });

  it.each([
    ['X-Identity-Assertion', 'exact spelling'],
    ['x-identity-assertion', 'lower case'],
    ['X-IDENTITY-ASSERTION', 'upper case'],
  ])('replaces a client-sent %s (%s) with its own', async (name) => {
    const rec = await viaRaw('/x', [`Authorization: ${AUTH}`, `${name}: eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.`]);
    const values = rec.rawHeaders.filter((_, i) => i % 2 === 0 && rec.rawHeaders[i]!.toLowerCase() === 'x-identity-assertion');
    expect(values).toHaveLength(1);
    const token = rec.headers['x-identity-assertion'] as string;
    expect(token).not.toContain('eyJhbGciOiJub25lIn0');
    expect((await verifyAssertion(gate.adminUrl, token)).payload.sub).toBe(DEMO.user);
  });

  it.each(['x_identity_assertion', 'X.Identity.Assertion', 'X-Identity_Assertion'])(
    'removes a spoof spelled %s (frameworks read it as the identity header)', async (name) => {
      const rec = await viaRaw('/x', [`Authorization: ${AUTH}`, `${name}: spoofed`]);
      const names = rec.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      expect(names).not.toContain(name.toLowerCase());
      expect(rec.rawHeaders.filter((_, i) => i % 2 === 1)).not.toContain('spoofed');
      expect(rec.headers['x-identity-assertion']).toBeDefined();
    },
  );
});

describe('credentials are stripped, everything else kept exactly', () => {
  it('removes Authorization and other credential headers', async () => {
    const rec = await viaRaw('/x', [
      `Authorization: ${AUTH}`, 'Proxy-Authorization: Basic Zm9vOmJhcg==', 'Authentication: secret',
      'InstanceId: demo-instance', 'InstanceKey: demo-instance-key', 'X-Keep: kept',
    ]);
    for (const h of ['authorization', 'proxy-authorization', 'authentication', 'instanceid', 'instancekey']) {
      expect(rec.headers[h], h).toBeUndefined();
    }
    expect(rec.headers['x-keep']).toBe('kept');
    const raw = rec.rawHeaders.join('\n');
    expect(raw).not.toContain('demo-instance-key');
    expect(raw).not.toContain(DEMO.password);
    expect(raw).not.toContain(AUTH.slice(6));
  });

  it.each([
    ['a=1; token=secret; b=2', 'a=1; b=2'],
    ['token=secret; a=1', 'a=1'],
    ['a=1; token=secret', 'a=1'],
    ['sid="q v"; token=secret; pref=%7B%22x%22%3A1%7D; e=', 'sid="q v"; pref=%7B%22x%22%3A1%7D; e='],
    ['tokenx=1; xtoken=2; token=s', 'tokenx=1; xtoken=2'],
  ])('Cookie %j → %j', async (sent, expected) => {
    const rec = await viaRaw('/x', [`Authorization: ${AUTH}`, `Cookie: ${sent}`]);
    expect(rec.headers.cookie).toBe(expected);
  });

  it('drops the Cookie header when only credential cookies were sent', async () => {
    const rec = await viaRaw('/x', [`Authorization: ${AUTH}`, 'Cookie: token=secret']);
    expect(rec.headers.cookie).toBeUndefined();
  });

  it.each([
    ['/p?a=1&_token=s&b=%2F%20x+y&access_token=t&c', '/p?a=1&b=%2F%20x+y&c'],
    ['/p?_token=s', '/p'],
    ['/p?access_token=t&_token=s', '/p'],
    ['/p?x=_token&y=access_token%3D1', '/p?x=_token&y=access_token%3D1'],
    ['/p?%5Ftoken=s&k=%5Ftoken', '/p?k=%5Ftoken'],
    ['/p?access%5Ftoken=s&z=1', '/p?z=1'],
    ['/p?q=caf%C3%A9&r=%E2%82%AC&s=a%2Bb&t=&u', '/p?q=caf%C3%A9&r=%E2%82%AC&s=a%2Bb&t=&u'],
    ['/p/a%20b/c?x=%zz&_token=s', '/p/a%20b/c?x=%zz'],
  ])('target %s → upstream %s', async (sent, expected) => {
    const rec = await viaRaw(sent, [`Authorization: ${AUTH}`]);
    expect(rec.url).toBe(expected);
  });

  it('keeps credential query values out of the access log, encoded names included', async () => {
    const from = gate.logs.length;
    await viaRaw('/p?a=1&_token=s3cr3t-one&access%5Ftoken=s3cr3t-two&%5F%74oken=s3cr3t-three', [`Authorization: ${AUTH}`]);
    const lines = gate.logs.slice(from);
    const access = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'request');
    expect(access?.path).toBe('/p?a=1');
    expect(lines.join('\n')).not.toMatch(/s3cr3t/);
    expect(gate.up.received[0]!.url).toBe('/p?a=1');
  });

  it('removes every header the client named in Connection, and hop-by-hop headers', async () => {
    const rec = await viaRaw('/x', [
      `Authorization: ${AUTH}`, 'Connection: keep-alive, X-Secret-Hop', 'X-Secret-Hop: 1', 'Keep-Alive: timeout=5',
      'TE: trailers', 'Upgrade: h2c', 'Proxy-Connection: keep-alive', 'X-Other: 2',
    ]);
    const names = rec.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const h of ['x-secret-hop', 'keep-alive', 'te', 'upgrade', 'proxy-connection']) expect(names, h).not.toContain(h);
    expect(rec.headers['x-other']).toBe('2');
  });
});

describe('forwarding headers', () => {
  it('sets X-Forwarded-For/Proto/Host and the upstream Host', async () => {
    const rec = await viaRaw('/x', [`Authorization: ${AUTH}`, 'X-Forwarded-For: 203.0.113.9', 'X-Forwarded-Proto: https', 'X-Forwarded-Host: evil.example']);
    // No trusted proxy is configured: the client's own chain is replaced, not extended.
    expect(rec.headers['x-forwarded-for']).toBe('127.0.0.1');
    // trustForwardedProto is off: the client's claim of https is not believed.
    expect(rec.headers['x-forwarded-proto']).toBe('http');
    expect(rec.headers['x-forwarded-host']).toBe(`127.0.0.1:${portOf(gate.url)}`);
    expect(rec.headers.host).toBe(`127.0.0.1:${gate.up.port}`);
  });

  it('sets X-Forwarded-For to the client address when none was sent', async () => {
    const rec = await viaRaw('/x', [`Authorization: ${AUTH}`]);
    expect(rec.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it.each([
    ['abc-123_x.y:z@w/+=', true],
    ['a'.repeat(128), true],
    ['a'.repeat(300), false],
    ['has spaces in it', false],
    ['semi;colon', false],
    ['', false],
  ])('X-Request-Id %j kept: %s', async (rid, kept) => {
    const rec = await viaRaw('/x', [`Authorization: ${AUTH}`, `X-Request-Id: ${rid}`]);
    const got = rec.headers['x-request-id'] as string;
    if (kept) expect(got).toBe(rid);
    else expect(got).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('generates an X-Request-Id when none was sent', async () => {
    const rec = await viaRaw('/x', [`Authorization: ${AUTH}`]);
    expect(rec.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('relays the method, body and upstream response (status, headers, body) but not response hop-by-hop headers', async () => {
    const original = gate.up.respond;
    gate.up.respond = (_req, res) => {
      res.writeHead(201, { 'x-upstream': 'yes', 'content-type': 'text/plain', 'keep-alive': 'timeout=7', 'set-cookie': ['a=1', 'b=2'] });
      res.end('created');
    };
    try {
      const res = await fetch(`${gate.url}/items`, { method: 'PUT', headers: { authorization: AUTH, 'content-type': 'text/plain' }, body: 'hello' });
      expect(res.status).toBe(201);
      expect(res.headers.get('x-upstream')).toBe('yes');
      expect(res.headers.get('keep-alive')).not.toBe('timeout=7');
      expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
      expect(await res.text()).toBe('created');
      expect(gate.up.received[0]).toMatchObject({ method: 'PUT', url: '/items', bodyBytes: 5 });
      expect(gate.up.received[0]!.headers['content-type']).toBe('text/plain');
    } finally {
      gate.up.respond = original;
    }
  });
});
