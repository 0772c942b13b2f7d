/**
 * The image's V8 settings: `ENV NODE_OPTIONS=--max-semi-space-size=4` and the ENTRYPOINT's
 * `--heap-growing-percent=50`. Node accepts each where the image puts it (a flag it refused would stop the container
 * from starting), each bounds what it is there for where Node's default lets it grow, and the real trackgate starts
 * and serves with both.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth } from '../helpers/trackgate.js';
import { startCluster } from '../helpers/cluster-process.js';
import { hashPassword } from '../../src/accounts/password.js';

import { IMAGE_ENV, IMAGE_NODE_FLAGS } from '../helpers/image-env.js';

/** The young generation's size (MiB) in a Node process that made 400 MiB of short-lived garbage. */
function youngGenerationMiB(nodeOptions: string | undefined): number {
  const script = `
    const v8 = require('node:v8');
    let keep = [];
    for (let i = 0; i < 400_000; i++) { keep.push({ i, s: 'x'.repeat(900) + i }); if (keep.length > 2000) keep = []; }
    const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.stdout.write(String(ns.space_size / 1048576));`;
  const env = { ...process.env, NODE_OPTIONS: nodeOptions };
  if (nodeOptions === undefined) delete env.NODE_OPTIONS;
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return Number(r.stdout);
}

/**
 * The old generation's largest size (MiB) in a Node process holding ~20 MB live while it promotes short-lived
 * objects (each survives a few young collections) into the old generation.
 */
function oldGenerationPeakMiB(nodeFlags: string[]): number {
  const script = `
    const v8 = require('node:v8');
    const live = Array.from({ length: 150_000 }, (_, i) => 'live-' + i + '-'.repeat(60));
    const ring = new Array(20_000);
    let peak = 0;
    for (let i = 0; i < 1_500_000; i++) {
      ring[i % ring.length] = { i, s: 'x'.repeat(200) + i };
      if (i % 10_000 === 0) peak = Math.max(peak, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').physical_space_size);
    }
    process.stdout.write(String(peak / 1048576));
    if (live.length !== 150_000) process.exitCode = 1;`;
  const r = spawnSync(process.execPath, [...nodeFlags, '-e', script], { env: { ...process.env, NODE_OPTIONS: IMAGE_ENV.NODE_OPTIONS }, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return Number(r.stdout);
}

let dir: string;
let up: RecordingUpstream;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'trackgate-node-options-'));
  up = await startRecordingUpstream();
});

afterAll(async () => {
  await up.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Dockerfile NODE_OPTIONS', () => {
  it('is set in the final image, and the bench applies the same value', () => {
    expect(IMAGE_ENV.NODE_OPTIONS).toBe('--max-semi-space-size=4');
  });

  it('bounds the young generation to 2 × 4 MiB, where Node\'s default grows past it', () => {
    expect(youngGenerationMiB(IMAGE_ENV.NODE_OPTIONS)).toBeLessThanOrEqual(8);
    expect(youngGenerationMiB(undefined)).toBeGreaterThan(8);
  }, 30_000);
});

describe('Dockerfile ENTRYPOINT node flags', () => {
  it('are set in the final image, and the bench applies the same ones', () => {
    expect(IMAGE_NODE_FLAGS).toStrictEqual(['--heap-growing-percent=50']);
  });

  it('bound the old generation\'s growth between full collections, where V8\'s own factor lets it grow further', () => {
    const bounded = oldGenerationPeakMiB(IMAGE_NODE_FLAGS);
    const own = oldGenerationPeakMiB([]);
    // A ratio, not a size: the sizes move between V8 releases (Node 22 and 24 peak higher than 20 did).
    expect(bounded).toBeLessThan(own * 0.75);
  }, 30_000);
});

describe('the image\'s V8 settings together', () => {
  it('the real trackgate starts and serves with NODE_OPTIONS and the ENTRYPOINT flags', async () => {
    writeFileSync(join(dir, 'accounts.yaml'), stringify({ users: [{ username: 'alice', password: await hashPassword('alice-password') }] }));
    const tg = await startCluster({
      dir, name: 'node-options', env: { NODE_OPTIONS: IMAGE_ENV.NODE_OPTIONS }, nodeFlags: IMAGE_NODE_FLAGS,
      config: { listen: '127.0.0.1:0', admin: { listen: '127.0.0.1:0' }, upstream: { url: up.url }, store: { url: 'sqlite::memory:' }, accountsFile: 'accounts.yaml', watch: false },
    });
    try {
      const res = await fetch(`${tg.proxy}/data`, { headers: { authorization: basicAuth('alice', 'alice-password') } });
      expect(res.status).toBe(200);
      expect(up.received.at(-1)?.headers['x-identity-assertion']).toMatch(/^ey/);
    } finally {
      tg.kill();
    }
  }, 30_000);
});
