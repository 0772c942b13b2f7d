/**
 * Hot reload through a real trackgate with `watch: true`: edits of the accounts file and of the config file
 * take effect without a restart, a credential cached before the edit stops working as soon as the reload
 * lands (the validation cache is cleared), and an invalid edit is rejected, logged and counted while the
 * running configuration keeps serving.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { hashPassword } from '../../src/accounts/password.js';
import { startGate, type Gate } from '../helpers/gate.js';
import { metric } from '../helpers/metrics.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { waitFor } from '../helpers/wait.js';

// A fresh gate (and files) for every test, all in front of one upstream.
let up: RecordingUpstream;
let gate: Gate;
beforeAll(async () => { up = await startRecordingUpstream(); });
afterAll(async () => { await up.close(); });
beforeEach(async () => {
  gate = await startGate({ up, config: { watch: true, authn: { basic: { realm: 'before' } } } });
});
afterEach(async () => { await gate.close(); });

const GOOD = (): Record<string, string> => ({ authorization: basicAuth(DEMO.user, DEMO.password) });

async function status(path: string, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${gate.url}${path}`, { headers });
  await res.arrayBuffer();
  return res.status;
}

const reloads = (result: 'success' | 'error'): Promise<number> => metric(gate.adminUrl, 'trackgate_config_reloads_total', { result });

/** Polls until `check` holds (the watcher debounces 150 ms) and returns how long that took; fails after `ms`. */
async function eventually(check: () => Promise<boolean>, what: string, ms = 3000): Promise<number> {
  const t0 = Date.now();
  if (!(await waitFor(check, ms))) throw new Error(`not within ${ms} ms: ${what}`);
  return Date.now() - t0;
}

function editYaml(file: string, edit: (doc: Record<string, unknown>) => void): void {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(doc);
  writeFileSync(file, stringify(doc));
}

const accountsFile = (): string => join(gate.dir, 'accounts.yaml');
type Users = { users: { username: string; password?: string }[] };

describe('accounts file edits', () => {
  it('removing a user: its cached credential stops working as soon as the reload lands', async () => {
    expect(await status('/a', GOOD())).toBe(200);
    expect(await status('/a', GOOD())).toBe(200); // now served from the validation cache
    expect(gate.app.cache.size).toBe(1);
    const before = await reloads('success');
    editYaml(accountsFile(), (d) => { (d as unknown as Users).users = []; });
    const ms = await eventually(async () => (await reloads('success')) > before, 'accounts reload');
    expect(ms).toBeLessThan(2000);
    // The very first request after the reload is refused: no stale cache entry survived it.
    expect(await status('/a', GOOD())).toBe(401);
    expect(gate.app.cache.size).toBe(1); // the negative verdict, not the old identity
  });

  it('changing a password hash: the old password stops, the new one works, without a restart', async () => {
    expect(await status('/a', GOOD())).toBe(200);
    const hash = await hashPassword('a-new-password');
    editYaml(accountsFile(), (d) => { (d as unknown as Users).users[0]!.password = hash; });
    await eventually(async () => (await status('/a', GOOD())) === 401, 'old password refused');
    expect(await status('/a', { authorization: basicAuth(DEMO.user, 'a-new-password') })).toBe(200);
    // The web-service key of the same user still works (the rest of the file was reloaded as is).
    expect(await status('/a', { authorization: basicAuth(DEMO.user, DEMO.webServiceKey) })).toBe(200);
  });

  it('an invalid accounts file is rejected, logged and counted; the old accounts keep serving', async () => {
    expect(await status('/a', GOOD())).toBe(200);
    const errorsBefore = await reloads('error');
    editYaml(accountsFile(), (d) => { (d as unknown as Users).users[0]!.password = 'plain-text-password'; });
    await eventually(async () => (await reloads('error')) > errorsBefore, 'reload error counted');
    const line = gate.logRecords().find((r) => r.level === 'error' && /configuration change rejected/.test(String(r.msg)));
    expect(line?.err).toMatch(/accounts\.yaml: users\.0\.password: /);
    expect(await status('/a', GOOD())).toBe(200);
    expect(await status('/a', { authorization: basicAuth(DEMO.user, 'plain-text-password') })).toBe(401);
  });
});

describe('config file edits', () => {
  it('a route turned public applies without a restart', async () => {
    expect(await status('/open/x')).toBe(401);
    editYaml(gate.configFile, (d) => { d.routes = [{ path: '/open', access: 'public' }]; });
    await eventually(async () => (await status('/open/x')) === 200, 'route public');
    expect(await status('/closed')).toBe(401);
    expect(gate.app.config.routes).toEqual([{ path: '/open', access: 'public' }]);
  });

  it('authn.basic.realm applies to the next challenge', async () => {
    const realm = async (): Promise<string | null> => (await fetch(`${gate.url}/a`)).headers.get('www-authenticate');
    expect(await realm()).toMatch(/^Basic realm="before"/);
    editYaml(gate.configFile, (d) => { (d.authn as { basic: { realm: string } }).basic.realm = 'after'; });
    await eventually(async () => /^Basic realm="after"/.test((await realm()) ?? ''), 'new realm');
  });

  it.each([
    ['invalid YAML', (f: string) => writeFileSync(f, `${readFileSync(f, 'utf8')}routes: [unclosed\n`), /not valid YAML at line \d+/],
    ['a bad value', (f: string) => editYaml(f, (d) => { d.cache = { maxEntries: -1 }; }), /cache\.maxEntries: Too small/],
    ['an unknown key', (f: string) => editYaml(f, (d) => { d.routez = []; }), /Unrecognized key: "routez"/],
    ['a bad route', (f: string) => editYaml(f, (d) => { d.routes = [{ path: 'open', access: 'public' }]; }), /routes\.0\.path/],
  ])('%s is rejected, logged with file and key, counted, and the old config keeps serving', async (_what, breakIt, message) => {
    expect(await status('/a', GOOD())).toBe(200);
    const good = parse(readFileSync(gate.configFile, 'utf8')) as Record<string, unknown>;
    const errorsBefore = await reloads('error');
    const okBefore = await reloads('success');
    breakIt(gate.configFile);
    await eventually(async () => (await reloads('error')) > errorsBefore, 'reload error counted');
    expect(await reloads('success')).toBe(okBefore);
    const line = gate.logRecords().find((r) => r.level === 'error' && /configuration change rejected/.test(String(r.msg)));
    expect(line, gate.logs.join('\n')).toBeDefined();
    expect(String(line!.err)).toContain(gate.configFile);
    expect(String(line!.err)).toMatch(message);
    // Still serving with the running configuration.
    expect(await status('/a', GOOD())).toBe(200);
    expect(await status('/a')).toBe(401);
    expect((await fetch(`${gate.url}/a`)).headers.get('www-authenticate')).toMatch(/realm="before"/);
    expect((await fetch(`${gate.adminUrl}/readyz`)).status).toBe(200);
    // A later valid edit applies again.
    writeFileSync(gate.configFile, stringify({ ...good, routes: [{ path: '/open', access: 'public' }] }));
    await eventually(async () => (await status('/open')) === 200, 'recovered');
  });
});
