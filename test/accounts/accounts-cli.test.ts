/**
 * `trackgate accounts …` and `trackgate import …`, run as real processes (`node bin/trackgate.js`, which
 * imports dist/) against accounts files in temp folders: what they print (never a hash, a generated secret
 * once), what they write (valid, comments kept, atomic, mode kept), and that what they write works in a
 * real trackgate, including through its hot reload.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { verifyPassword } from '../../src/accounts/password.js';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { loadAccounts } from '../../src/accounts/load.js';
import { digestHa1 } from '../../src/authn/digest-hash.js';
import type { AccountsFile } from '../../src/accounts/schema.js';
import { runAccountsCli } from '../../src/commands/accounts-cli.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS, startTrackgate } from '../helpers/trackgate.js';
import { runCli, type CliRun } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const base = mkdtempSync(join(tmpdir(), 'trackgate-accounts-cli-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

// bin/ imports dist/: build it unless the globalSetup already did (dist newer than our sources).
beforeAll(() => {
  const built = join(ROOT, 'dist/commands/accounts-cli.js');
  const sources = ['src/commands/accounts-cli.ts', 'src/accounts/accounts-file.ts', 'src/accounts/password.ts', 'src/accounts/htpasswd.ts', 'src/cli.ts'];
  const stale = !existsSync(built) || sources.some((s) => statSync(join(ROOT, s)).mtimeMs > statSync(built).mtimeMs);
  if (stale) {
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
    } catch { /* type errors elsewhere still emit dist/; a missing file fails the tests below */ }
  }
}, 180_000);



type Run = CliRun;
const run = (args: string[], input = '', cwd = ROOT): Promise<Run> => runCli(args, { input, cwd });

/** The same commands in-process (runAccountsCli, what cli.ts delegates to): fast, for the many edge cases. */
async function cli(args: string[], input = ''): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runAccountsCli(args, {
    stdin: Readable.from(input === '' ? [] : [Buffer.from(input)]),
    stdout: { write: (t: string) => { stdout += t; } },
    stderr: { write: (t: string) => { stderr += t; } },
  });
  return { code, stdout, stderr };
}

let n = 0;
/** A fresh folder holding a copy of the demo accounts file; returns the file's path. */
function fresh(content?: string): string {
  const dir = join(base, String(n++));
  mkdirSync(dir);
  const file = join(dir, 'accounts.yaml');
  if (content === undefined) copyFileSync(DEMO_ACCOUNTS, file); else writeFileSync(file, content);
  return file;
}
const read = (file: string): string => readFileSync(file, 'utf8');
const comments = (text: string): string[] => [...text.matchAll(/#.*$/gm)].map((m) => m[0]);

const BCRYPT = { password: 'rasmuslerdorf', hash: '$2y$07$BCryptRequires22Chrcte/VlQH0piJtjXl.0t1XkA8pw9dMXTpOq' };
const APR1 = { password: 'password', hash: '$apr1$abcdefgh$FBwExRW4dCc8aL.OvjpIE1' };
const SHA = { password: 'password', hash: '{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=' };
const ARGON2ID = { password: 'password', hash: '$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc' };
const HTPASSWD = [
  '# legacy GPS portal users',
  `dave:${BCRYPT.hash}`,
  `bob:${APR1.hash}`,
  `carol:${SHA.hash}`,
  `erin:${ARGON2ID.hash}`,
  `${DEMO.user}:${APR1.hash}`,
  '',
].join('\r\n');

describe('accounts list', { timeout: 60_000 }, () => {
  it('lists every kind of principal without a hash, digest or HA1', async () => {
    const file = fresh();
    const r = await run(['accounts', 'list', '--accounts', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const name of [DEMO.user, DEMO.adminEmail, DEMO.apiInstanceId, DEMO.instanceId, 'demo-device', DEMO.clientId]) {
      expect(r.stdout).toContain(name);
    }
    expect(r.stdout).toContain('password=scrypt');
    expect(r.stdout).not.toContain('$scrypt$');
    expect(r.stdout).not.toContain('sha256:');
    expect(r.stdout).not.toMatch(/[0-9a-f]{32}/);
  });

  it('--json gives the same view as JSON', async () => {
    const file = fresh();
    const r = await cli(['accounts', 'list', '--json', '--accounts', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('$scrypt$');
    expect(r.stdout).not.toContain('sha256:');
    expect(r.stdout).not.toMatch(/[0-9a-f]{32}/);
    const s = JSON.parse(r.stdout) as Record<string, unknown[]>;
    expect(s.users![0]).toMatchObject({ username: DEMO.user, password: 'scrypt', webServiceKeys: 1, accounts: ['demo-account', 'demo-account-2'] });
    expect(s.admins).toEqual([{ email: DEMO.adminEmail, instanceId: DEMO.apiInstanceId }]);
    expect(s.userGroups).toEqual([{ instanceId: DEMO.instanceId, devices: ['demo-device'] }]);
    expect(s.applications).toEqual([{ clientId: DEMO.clientId, name: 'Demo application' }]);
  });

  it('finds the file through --config (accountsFile, relative to the config) and defaults to config/accounts.yaml', async () => {
    const dir = join(base, `cfg-${n++}`);
    mkdirSync(join(dir, 'sub'), { recursive: true });
    mkdirSync(join(dir, 'config'));
    writeFileSync(join(dir, 'sub/other.yaml'), 'users:\n  - { username: via-config }\n');
    writeFileSync(join(dir, 'trackgate.yaml'), 'upstream:\n  url: http://127.0.0.1:1\naccountsFile: sub/other.yaml\n');
    writeFileSync(join(dir, 'config/accounts.yaml'), 'users:\n  - { username: via-default }\n');
    const viaConfig = await run(['accounts', 'list', '--config', join(dir, 'trackgate.yaml')]);
    expect(viaConfig.code).toBe(0);
    expect(viaConfig.stdout).toContain('via-config');
    const viaDefault = await run(['accounts', 'list'], '', dir);
    expect(viaDefault.code).toBe(0);
    expect(viaDefault.stdout).toContain('via-default');
  });

  it('fails on an invalid file, naming the key', async () => {
    const file = fresh('users:\n  - { username: legacy, password: abJnggxhB/yWI }\n');
    const r = await cli(['accounts', 'list', '--accounts', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/users\.0\.password: crypt\(3\) DES/);
  });
});

describe('accounts add and remove', { timeout: 60_000 }, () => {
  it('adds a user with the password from stdin, keeping comments and every other entry', async () => {
    const file = fresh();
    const before = read(file);
    const r = await run(['accounts', 'add', 'user', 'alice', '--account', 'acme', '--account', 'beta', '--accounts', file], 'alice pass wörd\n');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/added user alice/);
    const after = read(file);
    expect(after).not.toContain('alice pass');
    for (const c of comments(before)) expect(after).toContain(c);
    const oldData = loadAccounts(DEMO_ACCOUNTS);
    const data = loadAccounts(file);
    expect(data.users[0]).toEqual(oldData.users[0]);
    expect({ ...data, users: [] }).toEqual({ ...oldData, users: [] });
    const alice = data.users.find((u) => u.username === 'alice')!;
    expect(alice.accounts).toEqual(['acme', 'beta']);
    expect(await verifyPassword(alice.password!, 'alice pass wörd')).toBe(true);
    expect(await verifyPassword(alice.password!, 'alice pass word')).toBe(false);
  });

  it('refuses an existing user unless --update, which also remakes the Digest HA1s', async () => {
    const file = fresh();
    const realm = 'GPS Data Web Service';
    expect((await cli(['accounts', 'add', 'user', 'bob', '--realm', realm, '--accounts', file], 'first')).code).toBe(0);
    let bob = loadAccounts(file).users.find((u) => u.username === 'bob')!;
    expect(bob.digest).toEqual({ realm, ha1: {
      'MD5': digestHa1('MD5', 'bob', realm, 'first'),
      'SHA-256': digestHa1('SHA-256', 'bob', realm, 'first'),
      'SHA-512-256': digestHa1('SHA-512-256', 'bob', realm, 'first'),
    } });
    const snapshot = read(file);
    const again = await cli(['accounts', 'add', 'user', 'bob', '--accounts', file], 'second');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists.*--update/);
    expect(read(file)).toBe(snapshot);
    const upd = await cli(['accounts', 'add', 'user', 'bob', '--update', '--accounts', file], 'second');
    expect(upd.code).toBe(0);
    bob = loadAccounts(file).users.find((u) => u.username === 'bob')!;
    expect(await verifyPassword(bob.password!, 'second')).toBe(true);
    expect(await verifyPassword(bob.password!, 'first')).toBe(false);
    expect(bob.digest!.ha1['MD5']).toBe(digestHa1('MD5', 'bob', realm, 'second'));
    expect(bob.digest!.ha1['SHA-256']).toBe(digestHa1('SHA-256', 'bob', realm, 'second'));
  });

  it('refuses an empty password, a multi-line one and a user name with ":"', async () => {
    const file = fresh();
    const snapshot = read(file);
    const empty = await cli(['accounts', 'add', 'user', 'x', '--accounts', file], '');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/empty password/);
    const lines = await cli(['accounts', 'add', 'user', 'x', '--accounts', file], 'one\ntwo\n');
    expect(lines.code).toBe(1);
    expect(lines.stderr).toMatch(/control characters or several lines/);
    const colon = await cli(['accounts', 'add', 'user', 'a:b', '--accounts', file], 'pw');
    expect(colon.code).toBe(1);
    expect(colon.stderr).toMatch(/":"/);
    expect(read(file)).toBe(snapshot);
  });

  it('adds a web-service key: printed once on stdout, stored as its lookup digest; removed by giving the key', async () => {
    const file = fresh();
    const r = await run(['accounts', 'add', 'web-service-key', DEMO.user, '--accounts', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(r.stderr).toMatch(/shown once/);
    const key = r.stdout.trim();
    expect(read(file)).not.toContain(key);
    expect(loadAccounts(file).users[0]!.webServiceKeys).toEqual([lookupDigest(DEMO.webServiceKey), lookupDigest(key)]);
    const rm = await cli(['accounts', 'remove', 'web-service-key', DEMO.user, '--accounts', file], `${key}\n`);
    expect(rm.code).toBe(0);
    expect(loadAccounts(file).users[0]!.webServiceKeys).toEqual([lookupDigest(DEMO.webServiceKey)]);
    const unknown = await cli(['accounts', 'add', 'web-service-key', 'nobody', '--accounts', file]);
    expect(unknown.code).toBe(1);
  });

  it('adds a user group and a device, each secret printed once; a device needs its group', async () => {
    const file = fresh();
    const orphan = await cli(['accounts', 'add', 'device', 'fleet-7', 'truck-1', '--accounts', file]);
    expect(orphan.code).toBe(1);
    expect(orphan.stderr).toMatch(/accounts add user-group fleet-7/);
    const g = await cli(['accounts', 'add', 'user-group', 'fleet-7', '--accounts', file]);
    expect(g.code).toBe(0);
    const instanceKey = g.stdout.trim();
    const d = await cli(['accounts', 'add', 'device', 'fleet-7', 'truck-1', '--accounts', file]);
    expect(d.code).toBe(0);
    const token = d.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const text = read(file);
    expect(text).not.toContain(token);
    expect(text).not.toContain(instanceKey);
    const group = loadAccounts(file).userGroups.find((x) => x.instanceId === 'fleet-7')!;
    expect(await verifyPassword(group.instanceKey, instanceKey)).toBe(true);
    expect(group.devices).toEqual([{ id: 'truck-1', deviceToken: lookupDigest(token) }]);
    const dup = await cli(['accounts', 'add', 'device', 'fleet-7', 'truck-1', '--accounts', file]);
    expect(dup.code).toBe(1);
  });

  it('adds an application with a generated client secret', async () => {
    const file = fresh();
    const r = await cli(['accounts', 'add', 'application', 'fleet-app', '--name', 'Fleet app', '--accounts', file]);
    expect(r.code).toBe(0);
    const app = loadAccounts(file).applications.find((a) => a.clientId === 'fleet-app')!;
    expect(app.name).toBe('Fleet app');
    expect(await verifyPassword(app.clientSecret, r.stdout.trim())).toBe(true);
    expect((await cli(['accounts', 'add', 'application', 'fleet-app', '--accounts', file])).code).toBe(1);
  });

  it('adds admins: the first of an API instance gets a new instance key, the next ones share it', async () => {
    const file = fresh();
    const noInstance = await cli(['accounts', 'add', 'admin', 'ops@example.com', '--accounts', file], 'pw');
    expect(noInstance.code).toBe(2);
    const first = await cli(['accounts', 'add', 'admin', 'ops@example.com', '--instance', 'api-2', '--accounts', file], 'ops pw\n');
    expect(first.code).toBe(0);
    const key = first.stdout.trim();
    const second = await cli(['accounts', 'add', 'admin', 'dev@example.com', '--instance', 'api-2', '--accounts', file], 'dev pw\n');
    expect(second.code).toBe(0);
    expect(second.stdout).not.toMatch(/^[A-Za-z0-9_-]{43}$/m);
    const admins = loadAccounts(file).admins.filter((a) => a.instanceId === 'api-2');
    expect(admins.map((a) => a.email)).toEqual(['ops@example.com', 'dev@example.com']);
    for (const a of admins) expect(await verifyPassword(a.instanceKey, key)).toBe(true);
    expect(await verifyPassword(admins[0]!.password, 'ops pw')).toBe(true);
    expect(await verifyPassword(admins[1]!.password, 'dev pw')).toBe(true);
  });

  it('removes each kind of entry and keeps the comments of the others', async () => {
    const file = fresh();
    const before = read(file);
    for (const args of [
      ['user', DEMO.user], ['admin', DEMO.adminEmail], ['device', DEMO.instanceId, 'demo-device'], ['application', DEMO.clientId],
    ]) {
      const r = await cli(['accounts', 'remove', ...args, '--accounts', file]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^removed /);
    }
    const data = loadAccounts(file);
    expect(data.users).toEqual([]);
    expect(data.admins).toEqual([]);
    expect(data.applications).toEqual([]);
    expect(data.userGroups[0]!.devices).toEqual([]);
    const after = read(file);
    for (const c of comments(before).slice(0, 3)) expect(after).toContain(c); // the file header
    expect(after).toContain('# demo-instance-key'); // the user group's, untouched
    expect(after).not.toContain('# demo-app-secret'); // went with its entry
    expect((await cli(['accounts', 'remove', 'user-group', DEMO.instanceId, '--accounts', file])).code).toBe(0);
    expect(loadAccounts(file).userGroups).toEqual([]);
    const missing = await cli(['accounts', 'remove', 'user', 'nobody', '--accounts', file]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no user "nobody"/);
  });

  it('validates the result before writing: an invalid file is not made worse, and can be repaired', async () => {
    const file = fresh('# legacy\nusers:\n  - { username: legacy, password: abJnggxhB/yWI }\n');
    const snapshot = read(file);
    const r = await cli(['accounts', 'add', 'user', 'bob', '--accounts', file], 'pw');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/users\.0\.password: crypt\(3\) DES.*re-hash with `trackgate hash-password`/);
    expect(read(file)).toBe(snapshot);
    const fix = await cli(['accounts', 'remove', 'user', 'legacy', '--accounts', file]);
    expect(fix.code).toBe(0);
    expect(read(file)).toContain('# legacy');
    expect(loadAccounts(file).users).toEqual([]);
  });

  it('writes atomically: the mode is kept and no temp file is left behind; a missing file is created owner-only', async () => {
    const file = fresh();
    chmodSync(file, 0o640);
    expect((await cli(['accounts', 'add', 'user', 'm', '--accounts', file], 'pw')).code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    const dir = join(file, '..');
    expect(readdirSync(dir)).toEqual(['accounts.yaml']);
    const created = join(dir, 'new.yaml');
    expect((await cli(['accounts', 'add', 'user', 'first', '--accounts', created], 'pw')).code).toBe(0);
    expect(statSync(created).mode & 0o777).toBe(0o600);
    expect(loadAccounts(created).users.map((u) => u.username)).toEqual(['first']);
  });

  it('answers usage errors with exit 2', async () => {
    const file = fresh();
    for (const args of [['accounts'], ['accounts', 'add', 'robot', 'x'], ['accounts', 'add', 'user'], ['accounts', 'remove', 'device', 'x'], ['import', 'csv', 'f']]) {
      const r = await cli([...args, '--accounts', file]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/usage:/);
    }
    const bin = await run(['accounts', 'frobnicate', '--accounts', file]);
    expect(bin.code).toBe(2);
    expect(bin.stderr).toMatch(/unknown accounts command "frobnicate"/);
    expect((await run(['accounts', 'add', 'user', 'x', '--bogus', '--accounts', file])).code).not.toBe(0);
  });
});

describe('import htpasswd', { timeout: 60_000 }, () => {
  it('refuses the whole file when a line cannot be imported, naming the line', async () => {
    const file = fresh();
    const snapshot = read(file);
    const ht = join(file, '../htpasswd');
    writeFileSync(ht, `${HTPASSWD}legacy:abJnggxhB/yWI\n`);
    const r = await cli(['import', 'htpasswd', ht, '--accounts', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/htpasswd:7: user "legacy": crypt\(3\) DES/);
    expect(r.stderr).toMatch(/nothing written.*--skip-invalid/);
    expect(r.stderr).not.toContain('abJnggxhB');
    expect(read(file)).toBe(snapshot);
  });

  it('--dry-run reports what it would do and writes nothing', async () => {
    const file = fresh();
    const snapshot = read(file);
    const ht = join(file, '../htpasswd');
    writeFileSync(ht, `${HTPASSWD}legacy:abJnggxhB/yWI\n`);
    const r = await cli(['import', 'htpasswd', ht, '--dry-run', '--skip-invalid', '--accounts', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/added +dave \(bcrypt\)/);
    expect(r.stdout).toMatch(/4 added, 1 updated, 0 unchanged \(dry run/);
    expect(read(file)).toBe(snapshot);
  });

  it('merges: new users added, an existing user\'s hash replaced and reported, everything else kept', async () => {
    const file = fresh();
    const before = read(file);
    const ht = join(file, '../htpasswd');
    writeFileSync(ht, HTPASSWD);
    const r = await run(['import', 'htpasswd', ht, '--account', 'legacy-portal', '--accounts', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`updated +${DEMO.user.replace(/\./g, '\\.')} \\(password hash replaced: scrypt → apr1`));
    expect(r.stdout).toMatch(/4 added, 1 updated, 0 unchanged: written to/);
    const data = loadAccounts(file);
    const byName = new Map(data.users.map((u) => [u.username, u]));
    expect(byName.get('dave')).toMatchObject({ password: BCRYPT.hash, accounts: ['legacy-portal'] });
    expect(byName.get('bob')!.password).toBe(APR1.hash);
    expect(byName.get('carol')!.password).toBe(SHA.hash);
    expect(byName.get('erin')!.password).toBe(ARGON2ID.hash);
    const demo = byName.get(DEMO.user)!;
    expect(demo.password).toBe(APR1.hash);
    expect(demo.accounts).toEqual(['demo-account', 'demo-account-2']); // only the hash changes
    expect(demo.webServiceKeys).toEqual([lookupDigest(DEMO.webServiceKey)]);
    const after = read(file);
    for (const c of comments(before)) expect(after).toContain(c);
    expect(after).toContain(`"${SHA.hash}"`); // quoted: {SHA} would otherwise start a flow mapping

    const again = await cli(['import', 'htpasswd', ht, '--accounts', file]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/0 added, 0 updated, 5 unchanged: .* not changed/);
  });

  it('reads the htpasswd file from stdin with "-"', async () => {
    const file = fresh();
    const r = await cli(['import', 'htpasswd', '-', '--accounts', file], `zoe:${SHA.hash}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(loadAccounts(file).users.map((u) => u.username)).toContain('zoe');
  });
});

describe('a long import', { timeout: 60_000 }, () => {
  /** `count` users `bulk-000000`… with `{SHA}` hashes of `pw-<i><salt>`. */
  const users = (count: number, salt = '', from = 0): [string, string][] => Array.from({ length: count }, (_, k) => {
    const i = from + k;
    return [`bulk-${String(i).padStart(6, '0')}`, `{SHA}${createHash('sha1').update(`pw-${i}${salt}`).digest('base64')}`];
  });
  const htpasswd = (entries: [string, string][]): string => entries.map(([u, h]) => `${u}:${h}\n`).join('');

  /** In process, with a clock that moves 1 ms per reading (one a user): a progress line every 1000 users. */
  async function importWithClock(args: string[], stderrIsTTY = false): Promise<Run> {
    let stdout = '';
    let stderr = '';
    let t = 0;
    const code = await runAccountsCli(args, {
      stdin: Readable.from([]),
      stdout: { write: (x: string) => { stdout += x; } },
      stderr: { write: (x: string) => { stderr += x; }, isTTY: stderrIsTTY },
      now: () => t++,
    });
    return { code, stdout, stderr };
  }

  it('shows its progress on stderr, never stdout, names and hashes nowhere in it; every user merged right', async () => {
    const file = fresh();
    const ht = join(file, '../bulk.htpasswd');
    const first = users(3000);
    writeFileSync(ht, htpasswd(first));
    const r = await importWithClock(['import', 'htpasswd', ht, '--accounts', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n')).toEqual([
      'import: users merged: 999 of 3000 (33%)',
      'import: users merged: 1999 of 3000 (66%)',
      'import: users merged: 2999 of 3000 (99%)',
      'import: users merged: all 3000; validating and writing the accounts file',
      '',
    ]);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3001);
    expect(lines.every((l) => /^added {4}bulk-\d{6} \(sha1\)$/.test(l) || l.startsWith('3000 added, 0 updated, 0 unchanged: written to'))).toBe(true);
    const byName = new Map(loadAccounts(file).users.map((u) => [u.username, u.password]));
    for (const [u, h] of first) expect(byName.get(u)).toBe(h);
    expect(byName.get(DEMO.user)).toBeDefined(); // the users already there are kept

    // Again, over the 3000 now in the file: 1000 changed, 500 new, and the rest as they were.
    const second = [...users(1000, '-new'), ...first.slice(1000), ...users(500, '', 3000)];
    writeFileSync(ht, htpasswd(second));
    const again = await importWithClock(['import', 'htpasswd', ht, '--accounts', file]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/\n500 added, 1000 updated, 2000 unchanged: written to/);
    expect(again.stderr).toContain('import: users merged: 2999 of 3500 (85%)\n');
    const after = new Map(loadAccounts(file).users.map((u) => [u.username, u.password]));
    for (const [u, h] of second) expect(after.get(u)).toBe(h);
    expect(after.size).toBe(byName.size + 500);
    for (const [u, h] of [...first, ...second]) {
      expect(r.stderr + again.stderr).not.toContain(u);
      expect(r.stderr + again.stderr).not.toContain(h);
    }
  });

  it('on a terminal (stdout redirected): one line redrawn in place, ended once', async () => {
    const file = fresh();
    const ht = join(file, '../bulk.htpasswd');
    writeFileSync(ht, htpasswd(users(1000)));
    const r = await importWithClock(['import', 'htpasswd', ht, '--dry-run', '--accounts', file], true);
    expect(r.code, r.stderr).toBe(0);
    // Redrawn every 200 ms of the clock.
    expect(r.stderr).toBe(['199 of 1000 (19%)', '399 of 1000 (39%)', '599 of 1000 (59%)', '799 of 1000 (79%)', '999 of 1000 (99%)', 'all 1000']
      .map((t) => `\rimport: users merged: ${t}\x1b[K`).join('') + '\n');
    expect(r.stdout).toMatch(/1000 added, 0 updated, 0 unchanged \(dry run/);
  });

  it('a quick import shows no progress', async () => {
    const file = fresh();
    const ht = join(file, '../bulk.htpasswd');
    writeFileSync(ht, htpasswd(users(50)));
    const r = await cli(['import', 'htpasswd', ht, '--accounts', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('finds an existing user under another Unicode spelling of the name (NFC), as before', async () => {
    const file = fresh(`users:\n  - username: "caf\u00e9"\n    password: "${SHA.hash}"\n`);
    const ht = join(file, '../nfd.htpasswd');
    writeFileSync(ht, `cafe\u0301:${APR1.hash}\n`);
    const r = await cli(['import', 'htpasswd', ht, '--accounts', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/0 added, 1 updated, 0 unchanged/);
    expect(loadAccounts(file).users).toHaveLength(1);
  });
});

describe('import htdigest', { timeout: 60_000 }, () => {
  const realm = 'GPS Data Web Service';
  const ha1 = (user: string, pw: string, r = realm): string => digestHa1('MD5', user, r, pw);

  it('needs --realm, and names the realms present when none matches', async () => {
    const file = fresh();
    const hd = join(file, '../htdigest');
    writeFileSync(hd, `kim:Other Realm:${ha1('kim', 'pw', 'Other Realm')}\n`);
    expect((await cli(['import', 'htdigest', hd, '--accounts', file])).code).toBe(2);
    const r = await cli(['import', 'htdigest', hd, '--realm', realm, '--accounts', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no entries for realm "GPS Data Web Service" \(realms in the file: "Other Realm"\)/);
  });

  it('adds Digest material to new and existing users', async () => {
    const file = fresh('users:\n  - username: kim # existing\n    password: "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="\n');
    const hd = join(file, '../htdigest');
    writeFileSync(hd, `kim:${realm}:${ha1('kim', 'password')}\nlee:${realm}:${ha1('lee', 'lee pw')}\nlee:Other:${ha1('lee', 'x', 'Other')}\n`);
    const r = await cli(['import', 'htdigest', hd, '--realm', realm, '--accounts', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/1 added, 1 updated/);
    const users = loadAccounts(file).users;
    expect(users[0]).toMatchObject({ username: 'kim', password: SHA.hash, digest: { realm, ha1: { MD5: ha1('kim', 'password') } } });
    expect(users[1]).toMatchObject({ username: 'lee', digest: { realm, ha1: { MD5: ha1('lee', 'lee pw') } } });
    expect(users[1]!.password).toBeUndefined();
    expect(read(file)).toContain('# existing');
  });
});

describe('what the CLI writes works in a real trackgate', { timeout: 60_000 }, () => {
  let up: RecordingUpstream;
  beforeAll(async () => { up = await startRecordingUpstream(); });
  afterAll(async () => { await up.close(); });

  const get = (url: string, user: string, pass: string): Promise<Response> =>
    fetch(`${url}/rest/v2/devices`, { headers: { authorization: basicAuth(user, pass) } });

  it('logs in with Basic a user added by `accounts add` and users of every imported format', async () => {
    const file = fresh();
    expect((await run(['accounts', 'add', 'user', 'alice', '--account', 'acme', '--accounts', file], 'alice-pw\n')).code).toBe(0);
    const ht = join(file, '../htpasswd');
    writeFileSync(ht, HTPASSWD);
    expect((await run(['import', 'htpasswd', ht, '--accounts', file])).code).toBe(0);
    const gate = await startTrackgate({ upstreamUrl: up.url, files: { 'accounts.yaml': read(file) } });
    try {
      const logins: [string, string][] = [
        ['alice', 'alice-pw'], ['dave', BCRYPT.password], ['bob', APR1.password], ['carol', SHA.password],
        ['erin', ARGON2ID.password], [DEMO.user, APR1.password],
      ];
      for (const [user, pass] of logins) {
        const ok = await get(gate.url, user, pass);
        expect(ok.status, user).toBe(200);
        const bad = await get(gate.url, user, `${pass}-wrong`);
        expect(bad.status, user).toBe(401);
      }
      expect((await get(gate.url, DEMO.user, DEMO.password)).status).toBe(401); // its hash was replaced
      const asserted = up.received.map((r) => r.headers['x-identity-assertion'] as string);
      const claims = JSON.parse(Buffer.from(asserted[0]!.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
      expect(claims).toMatchObject({ sub: 'alice', account: 'acme', scheme: 'basic' });
    } finally {
      await gate.close();
    }
  });

  it('a running trackgate (watch: true) picks up a user added by the CLI', async () => {
    const gate = await startTrackgate({ upstreamUrl: up.url, config: { watch: true } });
    try {
      expect((await get(gate.url, 'hot', 'hot-pw')).status).toBe(401);
      const r = await run(['accounts', 'add', 'user', 'hot', '--accounts', join(gate.dir, 'accounts.yaml')], 'hot-pw');
      expect(r.code, r.stderr).toBe(0);
      // The failed attempt is cached briefly as a negative (cache.negativeTtlSeconds); a reload flushes it.
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        await new Promise((res) => setTimeout(res, 100));
        status = (await get(gate.url, 'hot', 'hot-pw')).status;
      }
      expect(status).toBe(200);
      expect((parseYaml(read(join(gate.dir, 'accounts.yaml'))) as AccountsFile).users.map((u) => u.username)).toContain('hot');
    } finally {
      await gate.close();
    }
  });
});
