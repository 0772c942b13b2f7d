#!/usr/bin/env node
/**
 * What `store.redis.waitReplicas` costs a token write: a master and one replica (redis-server on 127.0.0.1,
 * no persistence), one RedisStore per setting (the built dist/), sequential `putTokens` of an access + refresh
 * pair in alternating rounds, p50/p99/mean per setting. Usage: `npm run build && node bench/redis-wait.js`
 * (`REDIS_WAIT_N`: writes per round, default 2000; `REDIS_WAIT_ROUNDS`, default 3).
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisStore } from '../dist/store/redis.js';
import { redisConnection } from '../dist/store/redis-connection.js';

const N = Number(process.env.REDIS_WAIT_N ?? 2000);
const ROUNDS = Number(process.env.REDIS_WAIT_ROUNDS ?? 3);

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

const procs = [];
const dirs = [];
async function redisServer(extra) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'tg-bench-redis-'));
  dirs.push(dir);
  procs.push(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extra], { stdio: 'ignore' }));
  return port;
}

function record() {
  const now = Date.now();
  return { digest: randomBytes(32).toString('base64url'), type: 'access', issuer: 'bench', subject: `u-${randomUUID()}`, kind: 'user', issuedAt: now, expiresAt: now + 3_600_000 };
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

try {
  const master = await redisServer([]);
  await redisServer(['--replicaof', '127.0.0.1', String(master)]);
  const stores = {};
  for (const wait of [0, 1]) {
    stores[wait] = new RedisStore({ ...redisConnection({ url: `redis://127.0.0.1:${master}` }), waitReplicas: wait, waitTimeoutMs: 500 });
    if (!await stores[wait].waitReady(10_000)) throw new Error('redis not ready');
  }
  // The replica must be in sync before WAIT can count it.
  for (let i = 0; ; i++) {
    if ((await stores[0].redis.info('replication')).includes('state=online')) break;
    if (i > 200) throw new Error('replica not in sync');
    await new Promise((r) => setTimeout(r, 50));
  }
  const samples = { 0: [], 1: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const wait of round % 2 === 0 ? [0, 1] : [1, 0]) {
      for (let i = 0; i < N; i++) {
        const family = randomUUID();
        const pair = [{ ...record(), family }, { ...record(), type: 'refresh', family }];
        const t0 = process.hrtime.bigint();
        await stores[wait].putTokens(pair);
        samples[wait].push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
  }
  console.log(`putTokens (access + refresh pair), ${N} × ${ROUNDS} sequential writes per setting, master + 1 replica on 127.0.0.1`);
  for (const wait of [0, 1]) {
    const s = samples[wait].sort((a, b) => a - b);
    const mean = s.reduce((a, b) => a + b, 0) / s.length;
    console.log(`waitReplicas ${wait}: p50 ${pct(s, 0.5).toFixed(3)} ms, p99 ${pct(s, 0.99).toFixed(3)} ms, mean ${mean.toFixed(3)} ms`);
  }
  for (const s of Object.values(stores)) await s.close();
} finally {
  for (const p of procs) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
