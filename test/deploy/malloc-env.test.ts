/**
 * The image's glibc setting (Dockerfile `ENV MALLOC_MMAP_THRESHOLD_`): after a burst of scrypt logins (16 MiB of
 * work area each, on libuv's thread pool), the real process gives the memory back instead of keeping it in
 * glibc's per-thread arenas for the rest of its life. Measured on the real binary, with and without the setting.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/accounts/password.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth } from '../helpers/trackgate.js';
import { onLines } from '../helpers/lines.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TRACKGATE_') && !k.startsWith('MALLOC_')));
/** The MALLOC_* settings of the Dockerfile's final stage. */
const IMAGE_MALLOC = Object.fromEntries([...readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split(/^FROM /m).at(-1)!
  .matchAll(/^ENV (MALLOC_[A-Z_]+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
const USERS = Array.from({ length: 8 }, (_, i) => ({ name: `login-${i}`, password: `login-password-${i}` }));

let dir: string;
let up: RecordingUpstream;
const procs: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-malloc-'));
  up = await startRecordingUpstream();
  const users = await Promise.all(USERS.map(async (u) => ({ username: u.name, password: await hashPassword(u.password) })));
  writeFileSync(join(dir, 'accounts.yaml'), stringify({ users }));
  writeFileSync(join(dir, 'trackgate.yaml'), stringify({
    listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, upstream: { url: up.url },
    store: { url: 'sqlite::memory:' }, accountsFile: 'accounts.yaml', watch: false, logging: { level: 'info' },
  }));
}, 30_000);

afterAll(async () => {
  for (const c of procs) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await up.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; proxy: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/trackgate.js'), '--config', 'trackgate.yaml'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  const proxy = await new Promise<string>((resolve, reject) => {
    onLines(child.stdout!, (line) => {
      const rec = JSON.parse(line) as { msg?: string; proxy?: string };
      if (rec.msg === 'trackgate listening') resolve(rec.proxy!);
    });
    child.on('exit', (code) => reject(new Error(`trackgate exited (${code}): ${stderr}`)));
    setTimeout(() => reject(new Error(`trackgate did not start: ${stderr}`)), 15_000);
  });
  return { child, proxy };
}

const rssMiB = (pid: number) => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

function login(proxy: string, user: { name: string; password: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`http://${proxy}/data`, { agent: false, headers: { authorization: basicAuth(user.name, user.password) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** RSS growth of a fresh process over 8 concurrent first logins (each a scrypt verification). */
async function growthOverLogins(env: NodeJS.ProcessEnv): Promise<number> {
  const { child, proxy } = await start(env);
  const before = rssMiB(child.pid!);
  expect(await Promise.all(USERS.map((u) => login(proxy, u)))).toEqual(USERS.map(() => 200));
  const after = rssMiB(child.pid!);
  child.kill('SIGKILL');
  return after - before;
}

describe('Dockerfile MALLOC_* setting', () => {
  it('is set in the final image', () => {
    expect(IMAGE_MALLOC).toEqual({ MALLOC_MMAP_THRESHOLD_: '1048576' });
  });

  it('gives scrypt work areas back after a burst of logins (glibc keeps them without it)', async () => {
    const without = await growthOverLogins(ENV);
    const withSetting = await growthOverLogins({ ...ENV, ...IMAGE_MALLOC });
    // Measured here: about +80 MiB without, +10 MiB with (8 × 16 MiB work areas, 4 threads at a time).
    expect(withSetting).toBeLessThan(40);
    expect(without - withSetting).toBeGreaterThan(30);
  }, 60_000);
});
