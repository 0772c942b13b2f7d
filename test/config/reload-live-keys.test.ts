/**
 * Keys that a hot reload applies live, proven by behaviour through a real trackgate: each test changes the
 * config file, calls `app.reload()` and shows the running app now acts on the new value (the components read
 * it from the live runtime, not from a copy taken at construction). The walk over every key of the schema is
 * reload-policy.test.ts.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { parse, stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { waitFor } from '../helpers/wait.js';

let up: RecordingUpstream;
const gates: TestGate[] = [];
beforeAll(async () => { up = await startRecordingUpstream(); });
afterEach(async () => { for (const g of gates.splice(0)) await g.close(); up.received.length = 0; });
afterAll(async () => { await up.close(); });

async function gate(config: Record<string, unknown>): Promise<TestGate> {
  const g = await startTrackgate({ upstreamUrl: up.url, config });
  gates.push(g);
  return g;
}

/** Edits the config file and reloads; the reload must succeed. */
function reloadWith(g: TestGate, edit: (doc: Record<string, any>) => void): void {
  const doc = parse(readFileSync(g.configFile, 'utf8')) as Record<string, any>;
  edit(doc);
  writeFileSync(g.configFile, stringify(doc));
  expect(g.app.reload(), g.logs.slice(-3).join('\n')).toBe(true);
}

async function get(g: TestGate, auth: string | undefined, path = '/x'): Promise<number> {
  const res = await fetch(`${g.url}${path}`, { headers: auth === undefined ? {} : { authorization: auth } });
  await res.arrayBuffer();
  return res.status;
}

const RIGHT = basicAuth(DEMO.user, DEMO.password);

describe('live on reload', () => {
  // Asserted on wrong passwords: whether a right one gets through a throttled account is lockout policy
  // (src/store/throttle.ts), not reload.
  it('throttle.user.limit: a limit lowered by a reload applies to the very next password check', async () => {
    // Negative verdicts are not cached, so each wrong password is a real check; an hour-long window does not slide.
    const g = await gate({ cache: { negativeTtlSeconds: 0 }, throttle: { user: { limit: 10, windowSeconds: 3600 } } });
    for (let i = 0; i < 4; i++) expect(await get(g, basicAuth(DEMO.user, `wrong-${i}`))).toBe(401);
    reloadWith(g, (d) => { d.throttle = { user: { limit: 3, windowSeconds: 3600 } }; });
    // Four failures are over the new limit of three: the next attempt is refused before any check.
    expect(await get(g, basicAuth(DEMO.user, 'wrong-4'))).toBe(429);
    // And raising it again lets attempts through again, at once.
    reloadWith(g, (d) => { d.throttle = { user: { limit: 20, windowSeconds: 3600 } }; });
    expect(await get(g, basicAuth(DEMO.user, 'wrong-5'))).toBe(401);
  });

  it('throttle.ip.limit: applies at once too', async () => {
    const g = await gate({ cache: { negativeTtlSeconds: 0 }, throttle: { user: { limit: 100 }, ip: { limit: 50, windowSeconds: 3600 } } });
    for (let i = 0; i < 2; i++) expect(await get(g, basicAuth(`nobody-${i}`, 'wrong'))).toBe(401);
    reloadWith(g, (d) => { d.throttle.ip = { limit: 2, windowSeconds: 3600 }; });
    expect(await get(g, basicAuth('nobody-3', 'wrong'))).toBe(429);
  });

  it('logging.level: the logger follows (info lines stop at warn, come back at info)', async () => {
    const g = await gate({});
    const infoLines = (from: number): number => g.logs.slice(from).filter((l) => (JSON.parse(l) as { level: unknown }).level === 'info' || (JSON.parse(l) as { level: unknown }).level === 30).length;
    let from = g.logs.length;
    expect(await get(g, RIGHT)).toBe(200);
    expect(infoLines(from)).toBeGreaterThan(0); // the access line
    reloadWith(g, (d) => { d.logging = { level: 'warn' }; });
    from = g.logs.length;
    expect(await get(g, RIGHT)).toBe(200);
    expect(infoLines(from)).toBe(0);
    reloadWith(g, (d) => { d.logging = { level: 'info' }; });
    from = g.logs.length;
    expect(await get(g, RIGHT)).toBe(200);
    expect(infoLines(from)).toBeGreaterThan(0);
  });

  it('authn.basic.enabled: a form turned off stops accepting its credential', async () => {
    const g = await gate({});
    expect(await get(g, RIGHT)).toBe(200);
    reloadWith(g, (d) => { d.authn = { ...d.authn, basic: { enabled: false } }; });
    expect(await get(g, RIGHT)).toBe(401);
  });

  it('identity.issuer, audience and ttlSeconds: the next header carries the new values (no cached header with the old ones)', async () => {
    const g = await gate({ identity: { ttlSeconds: 60 } });
    const claims = async (): Promise<Record<string, unknown>> => {
      expect(await get(g, RIGHT)).toBe(200);
      return decodeJwt(up.received.at(-1)!.headers['x-identity-assertion'] as string);
    };
    const before = await claims();
    expect(before).toMatchObject({ iss: 'trackgate-test', aud: 'upstream-test' });
    reloadWith(g, (d) => { d.identity = { ...d.identity, issuer: 'issuer-2', audience: 'aud-2', ttlSeconds: 120 }; });
    const after = await claims();
    expect(after).toMatchObject({ iss: 'issuer-2', aud: 'aud-2' });
    expect((after.exp as number) - (after.iat as number)).toBe(120);
  });

  it('accountsFile: the new file is used, and its watcher follows it (an edit of the new file applies)', async () => {
    const g = await gate({ watch: true });
    copyFileSync(join(g.dir, 'accounts.yaml'), join(g.dir, 'accounts-2.yaml'));
    reloadWith(g, (d) => { d.accountsFile = 'accounts-2.yaml'; });
    expect(await get(g, RIGHT)).toBe(200);
    const doc = parse(readFileSync(join(g.dir, 'accounts-2.yaml'), 'utf8')) as { users: unknown[] };
    doc.users = [];
    writeFileSync(join(g.dir, 'accounts-2.yaml'), stringify(doc));
    expect(await waitFor(async () => (await get(g, RIGHT)) === 401, 3000, 50)).toBe(true);
  });

  it('identity.bindToRequest: the next header carries htm/htu', async () => {
    const g = await gate({});
    expect(await get(g, RIGHT, '/a')).toBe(200);
    expect(decodeJwt(up.received.at(-1)!.headers['x-identity-assertion'] as string).htu).toBeUndefined();
    reloadWith(g, (d) => { d.identity = { ...d.identity, bindToRequest: true }; });
    expect(await get(g, RIGHT, '/a')).toBe(200);
    expect(decodeJwt(up.received.at(-1)!.headers['x-identity-assertion'] as string)).toMatchObject({ htm: 'GET', htu: '/a' });
  });
});
