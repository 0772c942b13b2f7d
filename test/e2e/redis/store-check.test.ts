/**
 * `trackgate store check` against real servers: a master with a replica meets `waitReplicas: 1` (exit 0), a lone
 * server does not (exit 1, said why), an unreachable one is a problem, the report names mode, master, replicas,
 * latency and persistence and never the password; usage errors exit 2. A Redis that refuses CONFIG GET (an ACL
 * user without it, or the command renamed away) has its persistence read from INFO.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runStoreCli, type StoreReport } from '../../../src/commands/store-cli.js';
import { startRedisServer, type RedisServer } from '../../helpers/redis-server.js';
import { waitFor } from '../../helpers/wait.js';

const PASSWORD = 'check-Pa55word';
let dir: string;
let master: RedisServer;
let replica: RedisServer;
let n = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-store-check-'));
  master = await startRedisServer({ extraArgs: ['--requirepass', PASSWORD, '--maxmemory-policy', 'allkeys-lru'] });
  replica = await startRedisServer({ extraArgs: ['--replicaof', '127.0.0.1', String(master.port), '--masterauth', PASSWORD] });
  // In sync once the replica says its link to the master is up.
  expect(await waitFor(async () => (await replica.command('INFO replication').catch(() => '')).includes('master_link_status:up'), 20_000, 50)).toBe(true);
}, 60_000);
afterAll(async () => {
  await replica?.close();
  await master?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function check(store: Record<string, unknown>, ...flags: string[]): Promise<{ code: number; out: string; err: string }> {
  const file = join(dir, `c${n++}.yaml`);
  writeFileSync(file, JSON.stringify({ store }));
  let out = '';
  let err = '';
  const code = await runStoreCli(['store', 'check', '--config', file, ...flags], {
    stdout: { write: (s: string) => { out += s; } }, stderr: { write: (s: string) => { err += s; } }, env: {},
  });
  return { code, out, err };
}

const passwordFile = () => {
  const f = join(dir, 'password');
  writeFileSync(f, PASSWORD);
  return f;
};

describe('trackgate store check', () => {
  it('a master with one replica meets waitReplicas 1: mode, master, replicas, latency, persistence; exit 0', async () => {
    const { code, out } = await check({ url: `redis://127.0.0.1:${master.port}`, redis: { passwordFile: passwordFile(), waitReplicas: 1 } });
    expect(out).toContain(`store: redis (standalone: 127.0.0.1:${master.port})`);
    expect(out).toMatch(new RegExp(`^master: 127\\.0\\.0\\.1:${master.port}$`, 'm'));
    expect(out).toMatch(/^replicas: 1$/m);
    expect(out).toMatch(/^latency: p50 [\d.]+ ms, max [\d.]+ ms \(20 PINGs\)$/m);
    expect(out).toContain('appendonly no, save "", maxmemory-policy allkeys-lru');
    expect(out).toMatch(/^warning: .*maxmemory-policy allkeys-lru may evict token records/m);
    expect(out).toMatch(/^warning: .*no persistence seen/m);
    expect(out).toMatch(/^durability: waitReplicas 1, 1 replica\(s\) acknowledged a probe write: ok$/m);
    expect(out.trimEnd().endsWith('\nok')).toBe(true);
    expect(code).toBe(0);
    expect(out).not.toContain(PASSWORD);
  });

  it('--json gives the same report as an object', async () => {
    const { code, out } = await check({ url: `redis://:${PASSWORD}@127.0.0.1:${master.port}` }, '--json');
    expect(code).toBe(0);
    const r = JSON.parse(out) as StoreReport;
    expect(r).toMatchObject({ ok: true, engine: 'redis', mode: 'standalone', topology: { masterReachable: true, replicas: 1 }, durability: { waitReplicas: 0, ok: true } });
    expect(out).not.toContain(PASSWORD);
  });

  it('waitReplicas 2 with one replica cannot be met: exit 1, and why', async () => {
    const { code, out } = await check({ url: `redis://127.0.0.1:${master.port}`, redis: { passwordFile: passwordFile(), waitReplicas: 2 } });
    expect(out).toMatch(/^problem: waitReplicas 2 cannot be met: 1 replica\(s\) acknowledged a write within 200 ms$/m);
    expect(out.trimEnd().endsWith('not ok')).toBe(true);
    expect(code).toBe(1);
  });

  it('connected to a replica: no master, exit 1', async () => {
    const { code, out } = await check({ url: `redis://127.0.0.1:${replica.port}` });
    expect(out).toMatch(/^problem: no master: connected to a slave, not a master$/m);
    expect(code).toBe(1);
  });

  it('a wrong password or nothing listening: not reachable, exit 1, no password printed', async () => {
    const wrong = await check({ url: `redis://:not-the-password@127.0.0.1:${master.port}` });
    expect(wrong.out).toMatch(/^problem: not reachable: .*WRONGPASS/m);
    expect(wrong.out).not.toContain('not-the-password');
    expect(wrong.code).toBe(1);
    const probe = await startRedisServer();
    const port = probe.port;
    await probe.close();
    const none = await check({ url: `redis://127.0.0.1:${port}`, redis: { connectTimeoutMs: 200 } });
    expect(none.out).toMatch(/^problem: not reachable: .*ECONNREFUSED/m);
    expect(none.code).toBe(1);
  });

  it('SQLite: nothing to connect to, exit 0; usage errors exit 2; an invalid config exits 1', async () => {
    expect((await check({ url: `sqlite:${join(dir, 'absent.sqlite')}` })).code).toBe(0);
    let err = '';
    const io = { stdout: { write: () => undefined }, stderr: { write: (s: string) => { err += s; } }, env: {} };
    expect(await runStoreCli(['store', 'frobnicate', '--config', 'x'], io)).toBe(2);
    expect(err).toMatch(/unknown store command "frobnicate"/);
    expect(await runStoreCli(['store', 'check'], io)).toBe(2);
    const bad = await check({ url: 'redis:' });
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/invalid configuration: .*store\.redis\.nodes/);
  });
});

describe('trackgate store check on a Redis that refuses CONFIG GET', () => {
  const ACL_PASSWORD = 'no-config-Pa55word';
  let acl: RedisServer;
  let renamed: RedisServer;
  beforeAll(async () => {
    const persistent = ['--appendonly', 'yes', '--maxmemory-policy', 'noeviction'];
    // A managed service's two ways: an ACL user without CONFIG, and the command renamed away for everyone.
    acl = await startRedisServer({ extraArgs: [...persistent, '--user', 'tg', 'on', `>${ACL_PASSWORD}`, '~*', '&*', '+@all', '-config'] });
    renamed = await startRedisServer({ extraArgs: [...persistent, '--rename-command', 'CONFIG', ''] });
  }, 30_000);
  afterAll(async () => {
    await acl?.close();
    await renamed?.close();
  });

  it('an ACL user without +config: persistence read from INFO, said so, no warning, exit 0', async () => {
    const f = join(dir, 'acl-password');
    writeFileSync(f, ACL_PASSWORD);
    const url = `redis://127.0.0.1:${acl.port}`;
    const probe = new Redis({ host: '127.0.0.1', port: acl.port, username: 'tg', password: ACL_PASSWORD, lazyConnect: true });
    await probe.connect();
    await expect(probe.config('GET', 'appendonly')).rejects.toThrow(/NOPERM/);
    probe.disconnect();
    const { code, out } = await check({ url, redis: { username: 'tg', passwordFile: f } });
    expect(out).toMatch(new RegExp(`^persistence 127\\.0\\.0\\.1:${acl.port}: appendonly yes, save "[^"]*", maxmemory-policy noeviction \\(from INFO: CONFIG GET refused\\)$`, 'm'));
    expect(out).not.toMatch(/^warning:/m);
    expect(out).not.toContain(ACL_PASSWORD);
    expect(code).toBe(0);
  });

  it('CONFIG renamed away: the same from INFO, in the JSON report too', async () => {
    expect(await renamed.command('CONFIG GET appendonly')).toMatch(/^-ERR unknown command/);
    const { code, out } = await check({ url: `redis://127.0.0.1:${renamed.port}` }, '--json');
    const r = JSON.parse(out) as StoreReport;
    expect(r.persistence).toEqual([{ server: `127.0.0.1:${renamed.port}`, from: 'info', appendonly: 'yes', maxmemoryPolicy: 'noeviction' }]);
    expect(r).toMatchObject({ ok: true, warnings: [] });
    expect(code).toBe(0);
  });
});
