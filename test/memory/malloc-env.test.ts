/**
 * The image's glibc setting (Dockerfile `ENV MALLOC_MMAP_THRESHOLD_`): after a burst of scrypt logins (16 MiB of
 * work area each, on libuv's thread pool), the real process gives the memory back instead of keeping it in
 * glibc's per-thread arenas for the rest of its life. Measured on the real binary, with and without the setting.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/accounts/password.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth } from '../helpers/trackgate.js';
import { startCluster, type ClusterProc } from '../helpers/cluster-process.js';

import { IMAGE_ENV } from '../helpers/image-env.js';

const IMAGE_MALLOC_ENV = Object.fromEntries(Object.entries(IMAGE_ENV).filter(([k]) => k.startsWith('MALLOC_')));
/** The host's own MALLOC_* variables removed (undefined: not passed to the child). */
const NO_MALLOC = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('MALLOC_')).map((k) => [k, undefined]));
const USERS = Array.from({ length: 24 }, (_, i) => ({ name: `login-${i}`, password: `login-password-${i}` }));

let dir: string;
let up: RecordingUpstream;
let config: Record<string, unknown>;
const procs: ClusterProc[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-malloc-'));
  up = await startRecordingUpstream();
  const users = await Promise.all(USERS.map(async (u) => ({ username: u.name, password: await hashPassword(u.password) })));
  writeFileSync(join(dir, 'accounts.yaml'), stringify({ users }));
  config = {
    listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, upstream: { url: up.url },
    store: { url: 'sqlite::memory:' }, accountsFile: 'accounts.yaml', watch: false, logging: { level: 'info' },
    routes: [{ path: '/public', access: 'public' }],
  };
}, 30_000);

afterAll(async () => {
  for (const p of procs) p.kill();
  await up.close();
  rmSync(dir, { recursive: true, force: true });
});

const rssMiB = (pid: number) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;


function get(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const burst = (n: number, send: (i: number) => Promise<number>) => Promise.all(Array.from({ length: n }, (_, i) => send(i)));

/**
 * RSS growth of a fresh process over three bursts of 8 concurrent first logins (each a scrypt verification).
 * Bursts on a public path and without credentials go first, so the proxy path's own first-use growth (JIT,
 * sockets, upstream pool, log buffers: 10–25 MiB, varying from run to run) is in `before`; V8 collecting that
 * warm-up's garbage during the logins makes the growth with the setting come out slightly negative.
 */
async function growthOverLogins(name: string, env: NodeJS.ProcessEnv): Promise<number> {
  const tg = await startCluster({ dir, name, config, env });
  procs.push(tg);
  for (let round = 0; round < 3; round++) {
    expect(await burst(8, () => get(`${tg.proxy}/public`))).toEqual(Array(8).fill(200));
    expect(await burst(8, () => get(`${tg.proxy}/data`))).toEqual(Array(8).fill(401));
  }
  const before = rssMiB(tg.child.pid!);
  for (let b = 0; b < USERS.length; b += 8) {
    expect(await burst(8, (i) => get(`${tg.proxy}/data`, { authorization: basicAuth(USERS[b + i]!.name, USERS[b + i]!.password) }))).toEqual(Array(8).fill(200));
  }
  const after = rssMiB(tg.child.pid!);
  tg.kill();
  return after - before;
}

describe('Dockerfile MALLOC_* setting', () => {
  it('is set in the final image', () => {
    expect(IMAGE_MALLOC_ENV).toEqual({ MALLOC_MMAP_THRESHOLD_: '1048576' });
  });

  it('gives scrypt work areas back after a burst of logins (glibc keeps them without it)', async () => {
    const without = await growthOverLogins('without', NO_MALLOC);
    const withSetting = await growthOverLogins('with', { ...NO_MALLOC, ...IMAGE_MALLOC_ENV });
    // Measured here (six runs): -21 to -23 MiB with the setting, +20 to +80 MiB without. Without it glibc keeps a
    // freed 16 MiB work area in each arena that ran a login after its threshold rose; 24 logins over the pool's
    // threads leave several, how many depends on how the threads overlapped.
    const seen = `with ${withSetting.toFixed(1)} MiB, without ${without.toFixed(1)} MiB`;
    expect(withSetting, seen).toBeLessThan(16);
    expect(without - withSetting, seen).toBeGreaterThan(32);
  }, 60_000);
});
