/**
 * The minted identity header: reuse per credential, request-bound mode, configured lifetime, ES256 keys,
 * and key rotation from a watched private JWK set file (new active key picked up without restart; a bad
 * file change rejected while the old key keeps signing; a removed key kept published).
 */
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generatedKeyRing, generateJwks } from '../../src/identity/keys.js';
import { IdentityMinter } from '../../src/identity/minter.js';
import type { Identity } from '../../src/identity/identity.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, startTrackgate, type TestGate, logsSince } from '../helpers/trackgate.js';
import { metric } from '../helpers/metrics.js';
import { verifyAssertion } from '../helpers/identity-assertion.js';
import { waitFor } from '../helpers/wait.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);
let up: RecordingUpstream;
const gates: TestGate[] = [];

beforeAll(async () => { up = await startRecordingUpstream(); });
afterEach(async () => { for (const g of gates.splice(0)) await g.close(); up.received.length = 0; });
afterAll(async () => { await up.close(); });

async function gate(config: Record<string, unknown> = {}, files: Record<string, string> = {}): Promise<TestGate> {
  const g = await startTrackgate({ upstreamUrl: up.url, config, files });
  gates.push(g);
  return g;
}

/** Sends one authenticated request and returns the identity header the upstream received. */
async function assertionFor(g: TestGate, path = '/x', init: RequestInit = {}): Promise<string> {
  const res = await fetch(`${g.url}${path}`, { ...init, headers: { authorization: AUTH, ...(init.headers as Record<string, string>) } });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  const token = up.received.at(-1)?.headers['x-identity-assertion'];
  expect(typeof token).toBe('string');
  return token as string;
}

const kidOf = (token: string): string | undefined => decodeProtectedHeader(token).kid;

/** Replaces a file the way a Secret mount or an editor does: write a sibling, rename over. */
function replaceFile(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

describe('header reuse', () => {
  it('hands out the identical header for the same credential and signs once', async () => {
    const g = await gate();
    const first = await assertionFor(g);
    const second = await assertionFor(g, '/other?q=1', { method: 'POST', body: 'x' });
    const third = await assertionFor(g);
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(g.app.minter.mints).toBe(1);
    expect(await metric(g.adminUrl, 'trackgate_identity_mints_total')).toBe(1);
  });

  it('shares the header between two credentials of the same user (the claims are the same)', async () => {
    const g = await gate();
    const byPassword = await assertionFor(g);
    const res = await fetch(`${g.url}/x`, { headers: { authorization: basicAuth(DEMO.user, DEMO.webServiceKey) } });
    expect(res.status).toBe(200);
    const byKey = up.received.at(-1)!.headers['x-identity-assertion'] as string;
    expect(byKey).toBe(byPassword);
    expect((await verifyAssertion(g.adminUrl, byKey)).payload.sub).toBe(DEMO.user);
    expect(g.app.minter.mints).toBe(1);
    expect(await metric(g.adminUrl, 'trackgate_identity_mints_total')).toBe(1);
  });
});

describe('request-bound mode', () => {
  it('signs each request with htm/htu (path without query) and the configured ttl', async () => {
    const g = await gate({ identity: { bindToRequest: true, ttlSeconds: 120 } });
    const requests: [string, string, string, string][] = [
      ['GET', '/rest/v2/devices?limit=5&_token=x', 'GET', '/rest/v2/devices'],
      ['POST', '/rest/v2/echo', 'POST', '/rest/v2/echo'],
      ['GET', '/rest/v2/devices?limit=5', 'GET', '/rest/v2/devices'],
      ['DELETE', '/a/b%20c?d', 'DELETE', '/a/b%20c'],
    ];
    const tokens: string[] = [];
    for (const [method, path, htm, htu] of requests) {
      const token = await assertionFor(g, path, { method, ...(method === 'POST' ? { body: '{}' } : {}) });
      const { payload } = await verifyAssertion(g.adminUrl, token);
      expect(payload).toMatchObject({ htm, htu, sub: DEMO.user });
      expect(payload.exp! - payload.iat!).toBe(120);
      tokens.push(token);
    }
    expect(new Set(tokens).size).toBe(requests.length);
    expect(g.app.minter.mints).toBe(requests.length);
    expect(await metric(g.adminUrl, 'trackgate_identity_mints_total')).toBe(requests.length);
  });
});

describe('signing keys', () => {
  it('signs with an ES256 key from the keys file', async () => {
    const jwks = generateJwks('ES256');
    const g = await gate({ identity: { keysFile: 'keys.json' } }, { 'keys.json': JSON.stringify(jwks) });
    const token = await assertionFor(g);
    const { protectedHeader } = await verifyAssertion(g.adminUrl, token);
    expect(protectedHeader).toMatchObject({ alg: 'ES256', kid: jwks.keys[0]!.kid });
  });

  it('signs with activeKid when set, and publishes every key without private parts', async () => {
    const a = generateJwks().keys[0]!;
    const b = generateJwks().keys[0]!;
    const g = await gate({ identity: { keysFile: 'keys.json', activeKid: b.kid } }, { 'keys.json': JSON.stringify({ keys: [a, b] }) });
    expect(kidOf(await assertionFor(g))).toBe(b.kid);
    const published = await (await fetch(`${g.adminUrl}/.well-known/jwks.json`)).json() as { keys: Record<string, unknown>[] };
    expect(published.keys.map((k) => k.kid)).toEqual([a.kid, b.kid]);
    for (const k of published.keys) expect(k.d).toBeUndefined();
  });

  it('rotates to a new active key on a keys file change, without restart, and rejects a bad change', async () => {
    const a = generateJwks().keys[0]!;
    const b = generateJwks().keys[0]!;
    // minPublishSeconds 0: the new key signs at once (the deferral itself: test/identity/key-rotation.test.ts).
    const g = await gate({ identity: { keysFile: 'keys.json', minPublishSeconds: 0 }, watch: true }, { 'keys.json': JSON.stringify({ keys: [a] }) });
    const keysFile = join(g.dir, 'keys.json');
    const old = await assertionFor(g);
    expect(kidOf(old)).toBe(a.kid);

    // Step 1: the new key is added first (it becomes active); the old one stays published.
    replaceFile(keysFile, JSON.stringify({ keys: [b, a] }));
    const rotated = await waitFor(async () => { const t = await assertionFor(g); return kidOf(t) === b.kid ? t : undefined; }, 2500, 100);
    expect(rotated, 'new kid within 2.5 s').toBeDefined();
    const published = await (await fetch(`${g.adminUrl}/.well-known/jwks.json`)).json() as { keys: { kid: string }[] };
    expect(published.keys.map((k) => k.kid)).toEqual([b.kid, a.kid]);
    expect((await verifyAssertion(g.adminUrl, rotated!)).protectedHeader.kid).toBe(b.kid);
    // A header minted before the rotation still verifies (the old key is still published).
    expect((await verifyAssertion(g.adminUrl, old)).payload.sub).toBe(DEMO.user);
    expect(await metric(g.adminUrl, 'trackgate_config_reloads_total', { result: 'success' })).toBeGreaterThanOrEqual(1);

    // Step 2: a broken file is rejected; the running keys keep signing and stay published.
    const from = g.logs.length;
    replaceFile(keysFile, JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }] }));
    const rejected = await waitFor(() => metric(g.adminUrl, 'trackgate_config_reloads_total', { result: 'error' }), 2500, 50);
    expect(rejected).toBe(1);
    const line = logsSince(g.logs, from).find((r) => r.msg === 'configuration change rejected; keeping the running configuration');
    expect(line?.level).toBe('error');
    expect(String(line?.err)).toMatch(/kid/);
    const after = await assertionFor(g);
    expect(kidOf(after)).toBe(b.kid);
    expect((await verifyAssertion(g.adminUrl, after)).payload.sub).toBe(DEMO.user);
    const still = await (await fetch(`${g.adminUrl}/.well-known/jwks.json`)).json() as { keys: { kid: string }[] };
    expect(still.keys.map((k) => k.kid)).toEqual([b.kid, a.kid]);

    // Step 3: removing the old key: it stays published until the headers it signed expired (then dropped:
    // test/identity/key-rotation.test.ts, with a fake clock).
    const removedAt = g.logs.length;
    replaceFile(keysFile, JSON.stringify({ keys: [b] }));
    const retained = await waitFor(() => logsSince(g.logs, removedAt).find((r) => /still published until/.test(String(r.msg))), 2500, 50);
    expect(retained).toMatchObject({ kid: a.kid });
    const kept = await (await fetch(`${g.adminUrl}/.well-known/jwks.json`)).json() as { keys: { kid: string }[] };
    expect(kept.keys.map((k) => k.kid)).toEqual([b.kid, a.kid]);
    expect(g.app.minter.keys.keys.map((k) => k.kid)).toEqual([b.kid]);
    expect(kidOf(await assertionFor(g))).toBe(b.kid);
  });
});

describe('minter lifetime (fake clock)', () => {
  const opts = { issuer: 'i', audience: 'a', ttlSeconds: 60, bindToRequest: false, cacheEntries: 100 };
  const claims = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number };

  it('reuses a header until a quarter of its lifetime is left, then re-mints', () => {
    let now = 1_700_000_000_000;
    let counted = 0;
    const minter = new IdentityMinter(generatedKeyRing(), opts, () => now, () => { counted++; });
    const id: Identity = Object.freeze({ subject: 's', scheme: 'basic', kind: 'user' });
    const first = minter.mint(id, 'GET', '/');
    now += 44_999;
    expect(minter.mint(id, 'GET', '/')).toBe(first);
    now += 1;
    const second = minter.mint(id, 'GET', '/');
    expect(second).not.toBe(first);
    expect(claims(second).iat).toBe(claims(first).iat + 45);
    expect(minter.mints).toBe(2);
    expect(counted).toBe(2);
  });

  it('never outlives the credential, and re-mints relative to that shorter life', () => {
    let now = 1_700_000_000_000;
    const minter = new IdentityMinter(generatedKeyRing(), opts, () => now);
    const id: Identity = Object.freeze({ subject: 's', scheme: 'bearer', kind: 'app', expiresAt: now + 10_000 });
    const first = minter.mint(id, 'GET', '/');
    expect(claims(first).exp - claims(first).iat).toBe(10);
    now += 7_499;
    expect(minter.mint(id, 'GET', '/')).toBe(first);
    now += 1;
    expect(minter.mint(id, 'GET', '/')).not.toBe(first);
  });

  it('shares one header between equal identities (every Digest request, every token of a user) and keeps distinct ones apart', () => {
    const minter = new IdentityMinter(generatedKeyRing(), opts);
    const a = minter.mint(Object.freeze({ subject: 'u', scheme: 'digest', kind: 'user' }), 'GET', '/');
    expect(minter.mint(Object.freeze({ subject: 'u', scheme: 'digest', kind: 'user' }), 'GET', '/x')).toBe(a);
    expect(minter.mints).toBe(1);
    const distinct: Identity[] = [
      { subject: 'u', scheme: 'basic', kind: 'user' },
      { subject: 'u', scheme: 'digest', kind: 'device' },
      { subject: 'v', scheme: 'digest', kind: 'user' },
      { subject: 'u', scheme: 'digest', kind: 'user', account: 'a' },
      { subject: 'u', scheme: 'digest', kind: 'user', instance: 'a' },
      { subject: 'u', scheme: 'digest', kind: 'user', expiresAt: Date.now() + 30_000 },
      // Length prefixes: moving characters between parts never yields the same key.
      { subject: 'u1:a', scheme: 'digest', kind: 'user' },
      { subject: 'u 1 a', scheme: 'digest', kind: 'user' },
      { subject: 'u 1', scheme: 'digest', kind: 'user', account: '' },
      { subject: 'u', scheme: 'digest', kind: 'user', account: 'a', instance: '' },
    ];
    const headers = new Set([a, ...distinct.map((id) => minter.mint(Object.freeze(id), 'GET', '/'))]);
    expect(headers.size).toBe(distinct.length); // the last one equals the 4th (instance '' = none)
    expect(minter.mints).toBe(distinct.length);
  });

  it('keeps at most cacheEntries headers (least recently used re-signed), and 0 signs every request', () => {
    const minter = new IdentityMinter(generatedKeyRing(), { ...opts, cacheEntries: 2 });
    const ids = ['a', 'b', 'c'].map((subject): Identity => Object.freeze({ subject, scheme: 'basic', kind: 'user' }));
    for (const id of ids) minter.mint(id, 'GET', '/');
    minter.mint(ids[2]!, 'GET', '/');
    minter.mint(ids[1]!, 'GET', '/');
    expect(minter.mints).toBe(3);
    minter.mint(ids[0]!, 'GET', '/'); // evicted by c
    expect(minter.mints).toBe(4);
    const none = new IdentityMinter(generatedKeyRing(), { ...opts, cacheEntries: 0 });
    none.mint(ids[0]!, 'GET', '/');
    none.mint(ids[0]!, 'GET', '/');
    expect(none.mints).toBe(2);
  });

  it('drops cached headers when the keys change', () => {
    const minter = new IdentityMinter(generatedKeyRing(), opts);
    const id: Identity = Object.freeze({ subject: 's', scheme: 'basic', kind: 'user' });
    const first = minter.mint(id, 'GET', '/');
    const ring = generatedKeyRing();
    minter.setKeys(ring);
    const second = minter.mint(id, 'GET', '/');
    expect(second).not.toBe(first);
    expect(kidOf(second)).toBe(ring.active.kid);
  });
});
