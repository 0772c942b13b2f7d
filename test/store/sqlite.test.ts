/**
 * The SQLite store: the shared Store contract, migration of files from before the `rotated` column, and
 * durability: the real process (`node bin/trackgate.js`, built by test/global-setup.ts) SIGKILLed under
 * issuance load loses no token whose response a client received, and forgets no revocation.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { DatabaseSync } from '../../src/store/node-sqlite.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { record, storeContract, user } from '../helpers/store-contract.js';
import { DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';
import { onLines } from '../helpers/lines.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TRACKGATE_')));

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'trackgate-store-'));
  dirs.push(d);
  return d;
}
afterAll(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

storeContract('sqlite', async () => {
  const store = new SqliteStore(join(tempDir(), 'store.sqlite'));
  return { store, cleanup: () => store.close() };
});

describe('SQLite store', () => {
  it('purgeExpired deletes the records expired before the given time and counts them', async () => {
    const store = new SqliteStore(join(tempDir(), 'store.sqlite'));
    const now = Date.now();
    const old = record({ issuedAt: now - 20_000, expiresAt: now - 10_000 });
    const live = record();
    await store.putToken(old);
    await store.putToken(live);
    expect(await store.purgeExpired(now)).toBe(1);
    expect(await store.getToken(old.digest)).toBeUndefined();
    expect(await store.getToken(live.digest)).toStrictEqual(live);
    await store.close();
  });

  it('keeps what it committed across close and reopen', async () => {
    const file = join(tempDir(), 'store.sqlite');
    const store = new SqliteStore(file);
    const rec = record({ family: 'f1', data: { a: 1 } });
    await store.putToken(rec);
    await store.revokeTokens([rec.digest], 1234);
    await store.close();
    const again = new SqliteStore(file);
    expect(await again.getToken(rec.digest)).toStrictEqual({ ...rec, revokedAt: 1234 });
    await again.close();
  });

  it('migrates a file from before the refresh grace window (no `rotated` column)', async () => {
    const file = join(tempDir(), 'old.sqlite');
    const db = new DatabaseSync(file);
    db.exec(`CREATE TABLE tokens (
      digest TEXT PRIMARY KEY, type TEXT NOT NULL, issuer TEXT NOT NULL, subject TEXT NOT NULL,
      kind TEXT NOT NULL, account TEXT, instance TEXT, family TEXT,
      issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER, data TEXT
    )`);
    const now = Date.now();
    db.prepare('INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, NULL, ?)')
      .run('old-digest', 'refresh', 'oauth2_password', 'j.random.user', 'user', 'acct', 'fam', now, now + 60_000, '{"accessTtlSeconds":60}');
    db.close();

    const store = new SqliteStore(file);
    expect(await store.getToken('old-digest')).toStrictEqual({
      digest: 'old-digest', type: 'refresh', issuer: 'oauth2_password', subject: 'j.random.user', kind: 'user',
      account: 'acct', family: 'fam', issuedAt: now, expiresAt: now + 60_000, data: { accessTtlSeconds: 60 },
    });
    expect(await store.rotateToken('old-digest', now + 1, 'sealed')).toBe(true);
    expect((await store.getToken('old-digest'))?.rotated).toBe('sealed');
    const fresh = record({ rotated: 'x', revokedAt: now });
    await store.putToken(fresh);
    expect(await store.getToken(fresh.digest)).toStrictEqual(fresh);
    await store.close();
    // Opening a migrated file again is a no-op.
    const again = new SqliteStore(file);
    expect((await again.getToken('old-digest'))?.rotated).toBe('sealed');
    await again.close();
  });
});

describe('SQLite store: files and other processes', () => {
  it('opens a file written by the better-sqlite3 build of trackgate 0.1.0 and goes on using it', async () => {
    // test/store/fixtures/better-sqlite3-v12.sqlite: written by that build's SqliteStore (three tokens, one revoked, one user).
    const file = join(tempDir(), 'trackgate.sqlite');
    copyFileSync(join(ROOT, 'test/store/fixtures/better-sqlite3-v12.sqlite'), file);
    const t0 = Date.UTC(2026, 0, 1);
    const store = new SqliteStore(file);
    expect(await store.getToken('fixture-session')).toStrictEqual({
      digest: 'fixture-session', type: 'session', issuer: 'gps_rest_v2', subject: 'j.random.user', kind: 'user',
      account: 'acct-1', issuedAt: t0, expiresAt: t0 + 100 * 365 * 86_400_000, data: { unicode: 'ü€' },
    });
    expect((await store.getToken('fixture-revoked'))?.revokedAt).toBe(t0 + 1000);
    expect(await store.getUserByKey('demo-app', 'k-1')).toStrictEqual({
      id: 'fixture-user', username: 'fixture.user', password: '$scrypt$x', app: 'demo-app', key: 'k-1', anonymous: false,
      displayName: 'Zoë', extra: { plan: 'gold' }, createdAt: t0,
    });
    expect(await store.createUser(user({ username: 'fixture.user' }))).toBe('duplicate_username');
    expect(await store.revokeFamily('fam-1', t0 + 2000)).toEqual(['fixture-refresh']);
    const rec = record();
    await store.putToken(rec);
    await store.close();
    const db = new DatabaseSync(file);
    expect(db.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
    expect(db.prepare('SELECT COUNT(*) AS n FROM revocation_log').get()).toEqual({ n: 2 });
    db.close();
    const again = new SqliteStore(file);
    expect(await again.getToken(rec.digest)).toStrictEqual(rec);
    await again.close();
  });

  it('a write waits for another process\'s write lock, and a read-then-write transaction sees its commit', async () => {
    const file = join(tempDir(), 'store.sqlite');
    const store = new SqliteStore(file);
    const family = randomUUID();
    const first = record({ family });
    await store.putToken(first);
    // Another process takes the write lock, adds a member of the family, and commits 300 ms later.
    const late = record({ family });
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      const { DatabaseSync } = await import(${JSON.stringify(join(ROOT, 'dist/store/node-sqlite.js'))});
      const db = new DatabaseSync(process.argv[1]);
      db.exec('BEGIN IMMEDIATE');
      db.prepare("INSERT INTO tokens (digest, type, issuer, subject, kind, family, issued_at, expires_at) VALUES (?, 'access', 'x', 's', 'user', ?, 0, ?)")
        .run(process.argv[2], process.argv[3], Date.now() + 60000);
      process.stdout.write('locked\\n');
      setTimeout(() => { db.exec('COMMIT'); db.close(); }, 300);
    `, file, late.digest, family], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    await new Promise<void>((resolve) => onLines(holder.stdout!, (line) => { if (line === 'locked') resolve(); }));
    const t = Date.now();
    const revoked = await store.revokeFamily(family, Date.now());
    expect(Date.now() - t).toBeGreaterThanOrEqual(200);
    expect(revoked.sort()).toEqual([first.digest, late.digest].sort());
    expect(await exited).toBe(0);
    await store.close();
  });
  it('opening waits for another process\'s lock on a new file instead of failing: workers start on one file at once', async () => {
    const file = join(tempDir(), 'store.sqlite');
    // Another process creates the file (no WAL yet) and holds an exclusive lock for 300 ms: switching to WAL waits.
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `
      const { DatabaseSync } = await import(${JSON.stringify(join(ROOT, 'dist/store/node-sqlite.js'))});
      const db = new DatabaseSync(process.argv[1]);
      db.exec('CREATE TABLE IF NOT EXISTS store_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
      db.exec('BEGIN EXCLUSIVE');
      process.stdout.write('locked\\n');
      setTimeout(() => { db.exec('COMMIT'); db.close(); }, 300);
    `, file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    await new Promise<void>((resolve) => onLines(holder.stdout!, (line) => { if (line === 'locked') resolve(); }));
    const t = Date.now();
    const store = new SqliteStore(file);
    expect(Date.now() - t).toBeGreaterThanOrEqual(200);
    const rec = record();
    await store.putToken(rec);
    expect(await store.getToken(rec.digest)).toStrictEqual(rec);
    await store.close();
    expect(await exited).toBe(0);
  });
});

describe('SQLite store: SIGKILL under load', () => {
  let up: RecordingUpstream;
  const procs: ChildProcess[] = [];
  beforeAll(async () => { up = await startRecordingUpstream(); });
  afterEach(() => { for (const c of procs.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });
  afterAll(async () => { await up.close(); });

  async function startProcess(configFile: string, cwd: string): Promise<{ child: ChildProcess; url: string; exited: Promise<void> }> {
    const child = spawn(process.execPath, [join(ROOT, 'bin/trackgate.js'), '--config', configFile], { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const proxy = await new Promise<string>((resolve, reject) => {
      onLines(child.stdout!, (line) => {
        try {
          const rec = JSON.parse(line) as { msg?: string; proxy?: string };
          if (rec.msg === 'trackgate listening') resolve(rec.proxy!);
        } catch { /* not a log line */ }
      });
      child.once('exit', (code) => reject(new Error(`trackgate exited (${code}) before listening: ${stderr}`)));
      setTimeout(() => reject(new Error(`trackgate did not start: ${stderr}`)), 15_000);
    });
    return { child, url: `http://${proxy}`, exited };
  }

  /** One request on its own connection: status and headers, or undefined when the connection failed. */
  function send(url: string, method: string, body?: string): Promise<{ status: number; location?: string } | undefined> {
    return new Promise((resolve) => {
      const req = request(url, {
        method, agent: false,
        headers: body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(res.headers.location ? { location: res.headers.location } : {}) }));
        res.on('error', () => resolve(undefined));
      });
      req.on('error', () => resolve(undefined));
      req.end(body);
    });
  }

  it('every token whose 303 the client received works after restart, and a revocation made before the kill holds', async () => {
    const dir = tempDir();
    copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
    const storeFile = join(dir, 'store.sqlite');
    const configFile = join(dir, 'trackgate.yaml');
    writeFileSync(configFile, stringify({
      listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, upstream: { url: up.url },
      store: { url: `sqlite:${storeFile}` }, accountsFile: 'accounts.yaml',
      authn: { 'session_token': { enabled: true } },
      watch: false, logging: { level: 'info', access: false },
    }));

    const first = await startProcess(configFile, dir);
    const acknowledged: string[] = [];
    let inflight = 0;
    let inflightAtKill = -1;
    let stop = false;
    const body = new URLSearchParams({ key: DEMO.webServiceKey }).toString();
    const worker = async (): Promise<void> => {
      while (!stop) {
        inflight++;
        const res = await send(`${first.url}/rest/v2/token`, 'POST', body);
        inflight--;
        if (res === undefined) continue; // cut by the kill: never acknowledged
        expect(res.status).toBe(303);
        const token = new URLSearchParams(res.location!.split('?')[1]).get('_token');
        acknowledged.push(token!);
      }
    };
    const workers = Array.from({ length: 16 }, () => worker());

    const waitCount = async (n: number) => {
      const t0 = Date.now();
      while (acknowledged.length < n) {
        if (Date.now() - t0 > 20_000) throw new Error(`only ${acknowledged.length} tokens issued`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await waitCount(30);
    // Revoked while trackgate writes (another connection to the same file), before the kill.
    const revoked = acknowledged[0]!;
    const side = new SqliteStore(storeFile);
    expect(await side.revokeTokens([lookupDigest(revoked)], Date.now())).toBe(1);
    await side.close();
    await waitCount(300);

    inflightAtKill = inflight;
    first.child.kill('SIGKILL');
    await first.exited;
    // A 303 that arrived at all counts: trackgate commits before it answers.
    stop = true;
    await Promise.all(workers);
    expect(first.child.signalCode).toBe('SIGKILL');
    expect(inflightAtKill).toBeGreaterThan(0);

    const second = await startProcess(configFile, dir);
    up.received.length = 0;
    const check = acknowledged.slice(1);
    const statuses: number[] = [];
    for (let i = 0; i < check.length; i += 16) {
      const batch = await Promise.all(check.slice(i, i + 16).map((t) => send(`${second.url}/rest/v2/gateway?_token=${encodeURIComponent(t)}`, 'GET')));
      statuses.push(...batch.map((r) => r?.status ?? 0));
    }
    const failed = statuses.map((s, i) => [s, i] as const).filter(([s]) => s !== 200);
    expect(failed, `${failed.length} of ${check.length} acknowledged tokens lost`).toEqual([]);
    expect(up.received).toHaveLength(check.length);
    expect((await send(`${second.url}/rest/v2/gateway?_token=${encodeURIComponent(revoked)}`, 'GET'))?.status).toBe(401);

    second.child.kill('SIGTERM');
    await second.exited;
  }, 60_000);
});
