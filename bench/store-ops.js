/**
 * The SQLite store's own operations, without HTTP: two builds' SqliteStore in one process, each on its own copy
 * of one file of 100,000 session tokens, taking turns (A, B, B, A, …) over the operations the request path and
 * the token endpoints use. Reports the median wall and CPU time per operation of each build and B / A.
 *
 *   node bench/store-ops.js <dirA> <dirB>      dir: a checkout or copy holding dist/ (and its node_modules)
 *   STORE_OPS_ROUNDS=6  STORE_OPS_N=5000 (operations of each kind per round)
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes, randomUUID } from 'node:crypto';
import { lookupDigest } from '../dist/accounts/digest-token.js';
import { writeStore } from './lib/fixtures.js';
import { median } from './lib/harness.js';

const [dirA, dirB] = process.argv.slice(2);
if (!dirA || !dirB) { process.stderr.write('usage: node bench/store-ops.js <dirA> <dirB>\n'); process.exit(2); }
const rounds = Number(process.env.STORE_OPS_ROUNDS ?? 6);
const n = Number(process.env.STORE_OPS_N ?? 5000);

const digest = () => randomBytes(32).toString('base64url');
const session = (d) => {
  const now = Date.now();
  return { digest: d, type: 'session', issuer: 'bench', subject: `s-${d.slice(0, 8)}`, kind: 'user', account: 'bench-account', issuedAt: now, expiresAt: now + 3_600_000 };
};

/** Each operation: `prepare(store)` (untimed) returns the `n` calls to time, one argument list each. */
function operations(stored) {
  return {
    'getToken (hit)': { prepare: () => Array.from({ length: n }, () => stored[Math.floor(Math.random() * stored.length)]), run: (s, d) => s.getToken(d) },
    'getToken (miss)': { prepare: () => Array.from({ length: n }, digest), run: (s, d) => s.getToken(d) },
    'putToken (login)': { prepare: () => Array.from({ length: n }, () => session(digest())), run: (s, r) => s.putToken(r) },
    'rotateToken (refresh)': {
      prepare: async (s) => {
        const recs = Array.from({ length: n }, () => ({ ...session(digest()), type: 'refresh', family: randomUUID() }));
        for (const r of recs) await s.putToken(r);
        return recs.map((r) => r.digest);
      },
      run: (s, d) => s.rotateToken(d, Date.now(), 'sealed-pair'),
    },
    'revokeTokens (1)': {
      prepare: async (s) => {
        const recs = Array.from({ length: n }, () => session(digest()));
        for (const r of recs) await s.putToken(r);
        return recs.map((r) => r.digest);
      },
      run: (s, d) => s.revokeTokens([d], Date.now()),
    },
    'createUser': {
      prepare: () => Array.from({ length: n }, () => {
        const id = randomUUID();
        return { id, username: `u-${id}`, app: 'bench', key: id, anonymous: false, displayName: 'Bench', createdAt: Date.now() };
      }),
      run: (s, u) => s.createUser(u),
    },
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'trackgate-store-ops-'));
  try {
    const base = join(dir, 'base.sqlite');
    const tokensFile = join(dir, 'tokens.txt');
    await writeStore(base, { bulk: 100_000, bulkFile: tokensFile });
    const stored = readFileSync(tokensFile, 'utf8').trim().split('\n').map(lookupDigest);
    const builds = {};
    for (const [which, d] of [['A', dirA], ['B', dirB]]) {
      const { SqliteStore } = await import(pathToFileURL(join(resolve(d), 'dist/store/sqlite.js')).href);
      copyFileSync(base, join(dir, `${which}.sqlite`));
      builds[which] = { dir: resolve(d), store: new SqliteStore(join(dir, `${which}.sqlite`)) };
    }
    const ops = operations(stored);
    const results = { A: {}, B: {} };
    for (let r = 0; r < rounds; r++) {
      for (const which of r % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
        const { store } = builds[which];
        for (const [name, op] of Object.entries(ops)) {
          const args = await op.prepare(store);
          const c0 = process.cpuUsage();
          const t0 = process.hrtime.bigint();
          for (const a of args) await op.run(store, a);
          const wallUs = Number(process.hrtime.bigint() - t0) / 1000 / n;
          const c = process.cpuUsage(c0);
          (results[which][name] ??= []).push({ wallUs, cpuUs: (c.user + c.system) / n });
        }
      }
      process.stderr.write(`round ${r + 1}/${rounds}\n`);
    }
    for (const b of Object.values(builds)) await b.store.close();
    process.stdout.write(`\nA = ${builds.A.dir}\nB = ${builds.B.dir}\nNode ${process.version}; ${rounds} rounds × ${n} operations each (medians); 100,000 tokens stored\n\n`);
    process.stdout.write(`${'operation'.padEnd(22)} ${'A µs'.padStart(7)} ${'B µs'.padStart(7)} ${'B/A'.padStart(6)}   ${'A cpu µs'.padStart(8)} ${'B cpu µs'.padStart(8)} ${'B/A'.padStart(6)}\n`);
    for (const name of Object.keys(ops)) {
      const [awall, acpu, bwall, bcpu] = ['A', 'B'].flatMap((w) => [median(results[w][name].map((x) => x.wallUs)), median(results[w][name].map((x) => x.cpuUs))]);
      process.stdout.write(`${name.padEnd(22)} ${awall.toFixed(2).padStart(7)} ${bwall.toFixed(2).padStart(7)} ${(bwall / awall).toFixed(2).padStart(6)}   ${acpu.toFixed(2).padStart(8)} ${bcpu.toFixed(2).padStart(8)} ${(bcpu / acpu).toFixed(2).padStart(6)}\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { process.stderr.write(`store-ops failed: ${err?.stack ?? err}\n`); process.exitCode = 1; });
