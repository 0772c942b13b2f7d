/**
 * Signing-key rotation that upstreams survive: a real trackgate in front of the demo GPS service, which
 * verifies the identity header with jose's `createRemoteJWKSet` (keys cached, an unknown kid refetched at most
 * every 30 s). trackgate's clock is injected (`AppOptions.now`), so "published 11 minutes ago" takes no time.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { generateJwk, generateJwks } from '../../src/identity/keys.js';
import { freePort } from '../helpers/ports.js';
import { basicAuth, DEMO, startTrackgate, type TestGate, logsSince } from '../helpers/trackgate.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);
const ISSUER = 'trackgate-test';
const AUDIENCE = 'upstream-test';
const open: { close(): Promise<void> }[] = [];
afterEach(async () => { for (const o of open.splice(0).reverse()) await o.close(); });

interface Rig { g: TestGate; demo: DemoUpstream; clock: { offset: number }; keysFile: string }

/** The demo service (jose) behind a trackgate whose keys file is `keys`; `identity` adds identity.* keys. */
async function rig(keys: Record<string, unknown>[], identity: Record<string, unknown> = {}): Promise<Rig> {
  const adminPort = await freePort();
  const demo = await startDemoUpstream({ jwksUrl: `http://127.0.0.1:${adminPort}/.well-known/jwks.json`, issuer: ISSUER, audience: AUDIENCE });
  open.push(demo);
  const clock = { offset: 0 };
  const g = await startTrackgate({
    upstreamUrl: demo.url,
    now: () => Date.now() + clock.offset,
    config: { admin: { listen: `127.0.0.1:${adminPort}` }, identity: { keysFile: 'keys.json', ...identity } },
    files: { 'keys.json': JSON.stringify({ keys }) },
  });
  open.push(g);
  return { g, demo, clock, keysFile: join(g.dir, 'keys.json') };
}

/** Status of one authenticated request through trackgate to the demo service (200: jose verified the header). */
async function whoami(r: Rig): Promise<number> {
  const res = await fetch(`${r.g.url}/rest/v2/whoami`, { headers: { authorization: AUTH } });
  await res.arrayBuffer();
  return res.status;
}

async function jwksKids(r: Rig): Promise<string[]> {
  const set = await (await fetch(`${r.g.adminUrl}/.well-known/jwks.json`)).json() as { keys: { kid: string; d?: string }[] };
  for (const k of set.keys) expect(k.d).toBeUndefined();
  return set.keys.map((k) => k.kid);
}

const kid = (k: Record<string, unknown>): string => k.kid as string;

describe('a new key signs only once published identity.minPublishSeconds', () => {
  it('a key made active by a reload right after it was published is deferred: the old key keeps signing and the jose upstream keeps verifying', async () => {
    const a = generateJwks().keys[0]!;
    const r = await rig([a]);
    expect(await whoami(r)).toBe(200); // the upstream fetched the JWKS: it knows a only
    const b = generateJwk('EdDSA', Date.now());
    writeFileSync(r.keysFile, JSON.stringify({ keys: [b, a] })); // b first: the file wants it to sign
    const from = r.g.logs.length;
    const reloadedAt = Date.now();
    expect(r.g.app.reload()).toBe(true);
    const warn = logsSince(r.g.logs, from).find((l) => /published for less than identity.minPublishSeconds/.test(String(l.msg)));
    expect(warn).toMatchObject({ level: 'warn', kid: kid(b), signing: kid(a) });
    // Published = the later of the stamp and this reload (which brought it): + 660 s, the default.
    const activatesAt = Date.parse(String(warn!.activatesAt));
    expect(activatesAt).toBeGreaterThanOrEqual(reloadedAt + 660_000);
    expect(activatesAt).toBeLessThan(reloadedAt + 662_000);
    expect(await jwksKids(r)).toEqual([kid(b), kid(a)]); // published at once
    for (let i = 0; i < 5; i++) expect(await whoami(r)).toBe(200);
    expect(r.g.app.minter.signingKid).toBe(kid(a));

    // Eleven minutes later (injected clock) b signs by itself, without another reload.
    r.clock.offset = 661_000;
    const before = r.g.logs.length;
    await whoami(r);
    expect(r.g.app.minter.signingKid).toBe(kid(b));
    expect(logsSince(r.g.logs, before).some((l) => l.kid === kid(b) && /signing key activated/.test(String(l.msg)))).toBe(true);
  });

  it('control: with minPublishSeconds 0 the new key signs at once and the jose upstream rejects it (the failure the delay prevents)', async () => {
    const a = generateJwks().keys[0]!;
    const r = await rig([a], { minPublishSeconds: 0 });
    expect(await whoami(r)).toBe(200);
    const b = generateJwk('EdDSA', Date.now());
    writeFileSync(r.keysFile, JSON.stringify({ keys: [b, a] }));
    expect(r.g.app.reload()).toBe(true);
    expect(r.g.app.minter.signingKid).toBe(kid(b));
    // jose refetches an unknown kid at most every 30 s: the header with b is refused.
    expect(await whoami(r)).toBe(401);
  });

  it('published_at in the keys file counts across restarts and replicas: a key stamped long enough ago signs at start, a fresh one waits', async () => {
    const a = generateJwks().keys[0]!;
    const old = generateJwk('EdDSA', Date.now() - 3600_000);
    const r1 = await rig([old, a]);
    expect(r1.g.app.minter.signingKid).toBe(kid(old));
    expect(await whoami(r1)).toBe(200);

    const fresh = generateJwk('EdDSA', Date.now() - 10_000);
    const r2 = await rig([fresh, a]);
    expect(r2.g.app.minter.signingKid).toBe(kid(a));
    expect(r2.g.logRecords().find((l) => /published for less than/.test(String(l.msg)))).toMatchObject({ kid: kid(fresh), signing: kid(a) });
    expect(await whoami(r2)).toBe(200);
    r2.clock.offset = 651_000;
    await whoami(r2);
    expect(r2.g.app.minter.signingKid).toBe(kid(fresh));
  });

  it('a reload that lowers minPublishSeconds decides again at once', async () => {
    const a = generateJwks().keys[0]!;
    const fresh = generateJwk('EdDSA', Date.now() - 60_000);
    const r = await rig([fresh, a]);
    expect(r.g.app.minter.signingKid).toBe(kid(a));
    const { parse, stringify } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const doc = parse(readFileSync(r.g.configFile, 'utf8')) as { identity: Record<string, unknown> };
    doc.identity.minPublishSeconds = 30;
    writeFileSync(r.g.configFile, stringify(doc));
    expect(r.g.app.reload()).toBe(true);
    expect(r.g.app.minter.signingKid).toBe(kid(fresh));
  });

  it('with no key published long enough, the wanted key signs and the log says upstreams may reject it', async () => {
    const fresh = generateJwk('EdDSA', Date.now());
    const r = await rig([fresh]);
    expect(r.g.app.minter.signingKid).toBe(kid(fresh));
    expect(r.g.logRecords().find((l) => /signs before it was published/.test(String(l.msg)))).toMatchObject({ level: 'warn', kid: kid(fresh) });
  });
});

describe('a key removed from the file stays published until its headers expired', () => {
  it('is kept in the JWKS for identity.ttlSeconds + 60 s, then dropped', async () => {
    const a = generateJwks().keys[0]!;
    const b = generateJwk('EdDSA', Date.now());
    const r = await rig([a], { ttlSeconds: 60, minPublishSeconds: 0 });
    expect(await whoami(r)).toBe(200);
    writeFileSync(r.keysFile, JSON.stringify({ keys: [b, a] }));
    expect(r.g.app.reload()).toBe(true);
    expect(r.g.app.minter.signingKid).toBe(kid(b));
    writeFileSync(r.keysFile, JSON.stringify({ keys: [b] }));
    const from = r.g.logs.length;
    expect(r.g.app.reload()).toBe(true);
    expect(logsSince(r.g.logs, from).find((l) => /still published until/.test(String(l.msg)))).toMatchObject({ kid: kid(a) });
    expect(await jwksKids(r)).toEqual([kid(b), kid(a)]);
    r.clock.offset = 119_000;
    expect(await jwksKids(r)).toEqual([kid(b), kid(a)]);
    r.clock.offset = 121_000;
    expect(await jwksKids(r)).toEqual([kid(b)]);
  });

  it('a reload that lowers identity.ttlSeconds and removes the key keeps it for the old lifetime + 60 s', async () => {
    const a = generateJwks().keys[0]!;
    const b = generateJwk('EdDSA', Date.now());
    const r = await rig([a], { ttlSeconds: 3600, minPublishSeconds: 0 });
    expect(await whoami(r)).toBe(200); // a signed a header good for an hour
    const { parse, stringify } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const doc = parse(readFileSync(r.g.configFile, 'utf8')) as { identity: Record<string, unknown> };
    doc.identity.ttlSeconds = 60;
    writeFileSync(r.g.configFile, stringify(doc));
    writeFileSync(r.keysFile, JSON.stringify({ keys: [b] }));
    expect(r.g.app.reload()).toBe(true);
    expect(r.g.app.minter.signingKid).toBe(kid(b));
    r.clock.offset = 3_659_000;
    expect(await jwksKids(r)).toEqual([kid(b), kid(a)]);
    r.clock.offset = 3_661_000;
    expect(await jwksKids(r)).toEqual([kid(b)]);
  });
});
