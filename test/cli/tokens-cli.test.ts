/**
 * `trackgate tokens list|revoke`, run as a real process (`node bin/trackgate.js`, dist/ built by the
 * globalSetup) against the SQLite store of a trackgate running in this process: what it prints (never a
 * token value), what it revokes, and that a CLI revocation reaches the running trackgate within ~1 s.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { DatabaseSync } from '../../src/store/node-sqlite.js';
import { REVOCATION_POLL_MS, SqliteStore } from '../../src/store/sqlite.js';
import type { StoreEvent } from '../../src/store/types.js';
import { useGate } from '../helpers/gate.js';
import { CLEAN_ENV, runCli, type CliRun } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

const ENV = CLEAN_ENV;

type Run = CliRun;
const run = (args: string[], input = '', env: NodeJS.ProcessEnv = ENV): Promise<Run> => runCli(args, { input, env });

const gate = useGate({ config: { authn: { 'oauth': { enabled: true } } } });

const tokens = (...args: string[]) => ['tokens', ...args, '--config', gate.configFile];

async function issue(subject: string, type: 'access' | 'refresh' = 'access', family?: string): Promise<string> {
  return (await gate.app.tokens.issue({ type, issuer: 'geoloqi', subject, kind: 'user', ttlSeconds: 600, ...(family ? { family } : {}) })).value;
}

const call = (token: string) => fetch(`${gate.url}/data`, { headers: { authorization: `OAuth ${token}` } });

/** Polls until the running gate refuses `token`; returns how long that took (ms), or -1. */
async function refusedWithin(token: string, ms: number): Promise<number> {
  const t0 = Date.now();
  const refused = await waitFor(async () => (await call(token)).status === 401, ms, 50);
  return refused ? Date.now() - t0 : -1;
}

describe('tokens list', () => {
  it('a table of digests (shortened), types, issuers, subjects, kinds, expiry and revocation: never a token value', async () => {
    const a = await issue('list-user-a');
    const b = await issue('list-user-b');
    await gate.app.store.revokeTokens([lookupDigest(b)], Date.now());
    const r = await run(tokens('list'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^DIGEST\s+TYPE\s+ISSUER\s+SUBJECT\s+KIND\s+EXPIRES\s+REVOKED$/);
    const rowA = lines.find((l) => l.includes('list-user-a'))!;
    expect(rowA).toContain(`${lookupDigest(a).slice(0, 19)}…`);
    expect(rowA).not.toContain(lookupDigest(a));
    expect(rowA).toMatch(/access\s+geoloqi\s+list-user-a\s+user\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+-$/);
    expect(lines.find((l) => l.includes('list-user-b'))).toMatch(/Z\s+\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    for (const v of [a, b]) expect(r.stdout).not.toContain(v);
  });

  it('--subject, --limit and --json (whole digests, for revoke --digest)', async () => {
    await issue('list-json');
    await issue('list-json');
    const r = await run(tokens('list', '--subject', 'list-json', '--json'));
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ type: 'access', issuer: 'geoloqi', subject: 'list-json', kind: 'user', revokedAt: null });
    expect(rows[0]!.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const one = await run(tokens('list', '--subject', 'list-json', '--limit', '1', '--json'));
    expect(JSON.parse(one.stdout)).toHaveLength(1);
  });
});

describe('tokens revoke', () => {
  it('by value on stdin: the running trackgate refuses the token within about a second, cached or not', async () => {
    const token = await issue('cli-revoke-stdin');
    expect((await call(token)).status).toBe(200);
    expect((await call(token)).status).toBe(200); // cached positive verdict
    const r = await run(tokens('revoke', '-'), `${token}\n`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^revoked access token sha256:[0-9a-f]{12}… of cli-revoke-stdin \(geoloqi\)\n$/);
    expect(r.stdout).not.toContain(token);
    // The running process polls the store's revocation log every REVOCATION_POLL_MS.
    const took = await refusedWithin(token, 3000);
    expect(took).toBeGreaterThanOrEqual(0);
    expect(took).toBeLessThan(REVOCATION_POLL_MS + 500);
    // Revoking again says so, exit 0.
    const again = await run(tokens('revoke', '-'), token);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^already revoked: /);
  });

  it('by value as an argument, and by --digest', async () => {
    const a = await issue('cli-revoke-arg');
    const b = await issue('cli-revoke-digest');
    for (const args of [[a], ['--digest', lookupDigest(b)]]) {
      const r = await run(tokens('revoke', ...args));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    }
    for (const t of [a, b]) expect((await gate.app.store.getToken(lookupDigest(t)))?.revokedAt).toBeTypeOf('number');
    expect(await refusedWithin(b, 3000)).toBeGreaterThanOrEqual(0);
  });

  it('--subject: every live token of the subject, and no one else\'s', async () => {
    const mine = [await issue('cli-subject'), await issue('cli-subject'), await issue('cli-subject')];
    const other = await issue('cli-subject-other');
    const r = await run(tokens('revoke', '--subject', 'cli-subject'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('revoked 3 tokens of subject cli-subject\n');
    for (const t of mine) expect((await gate.app.store.getToken(lookupDigest(t)))?.revokedAt).toBeTypeOf('number');
    expect((await gate.app.store.getToken(lookupDigest(other)))?.revokedAt).toBeUndefined();
    expect((await run(tokens('revoke', '--subject', 'cli-subject'))).stdout).toBe('revoked 0 tokens of subject cli-subject\n');
  });

  it('a refresh token takes its family', async () => {
    const family = `fam-${Date.now()}`;
    const access = await issue('cli-family', 'access', family);
    const refresh = await issue('cli-family', 'refresh', family);
    const r = await run(tokens('revoke', '-'), refresh);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('and its family (2 tokens)');
    expect((await gate.app.store.getToken(lookupDigest(access)))?.revokedAt).toBeTypeOf('number');
  });

  it('errors: unknown token → exit 1; bad usage → exit 2 with the usage; no config → exit 2', async () => {
    const unknown = await run(tokens('revoke', 'never-issued'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^trackgate: no such token \(sha256:[0-9a-f]{12}…\)\n$/);
    for (const args of [tokens('revoke'), tokens('revoke', 'a', '--subject', 's'), tokens('revoke', '--digest', 'sha256:nothex'), tokens('list', '--limit', '0'), tokens('frobnicate')]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain('usage:');
    }
    const noConfig = await run(['tokens', 'list']);
    expect(noConfig.code).toBe(2);
    expect(noConfig.stderr).toContain('tokens needs --config FILE');
    const missingStore = await run(['tokens', 'list', '--config', gate.configFile], '', { ...ENV, TRACKGATE_STORE: `sqlite:${join(gate.dir, 'nope.sqlite')}` });
    expect(missingStore.code).toBe(1);
    expect(missingStore.stderr).toContain('no store at');
  });

  it('`trackgate help` lists the tokens commands', async () => {
    const r = await run(['help']);
    expect(r.stdout).toContain('trackgate tokens list');
    expect(r.stdout).toContain('trackgate tokens revoke');
  });
});

describe('the SQLite revocation log (how a CLI revocation reaches the running process)', () => {
  it('a subscribed store turns another process\'s revocations into events, its own only once; a pruned gap → resync', async () => {
    const file = join(gate.dir, 'log-test.sqlite');
    const running = new SqliteStore(file, { pollMs: 50 });
    const cli = new SqliteStore(file);
    try {
      const events: StoreEvent[] = [];
      const unsubscribe = running.subscribe((e) => events.push(e));
      const rec = (digest: string) => ({ digest, type: 'access', issuer: 'geoloqi', subject: 's', kind: 'user', issuedAt: Date.now(), expiresAt: Date.now() + 60_000 });
      for (const d of ['sha256:a', 'sha256:b', 'sha256:c']) await running.putToken(rec(d));
      await running.revokeTokens(['sha256:a'], Date.now()); // own: delivered at once, not again by the poll
      await cli.revokeTokens(['sha256:b', 'sha256:c', 'sha256:unknown'], Date.now());
      // Once the poll has brought the other process's revocations, an own one repeated would be there too.
      await waitFor(() => events.some((e) => e.type === 'revoked' && e.digests.includes('sha256:b')));
      expect(events).toEqual([{ type: 'revoked', digests: ['sha256:a'] }, { type: 'revoked', digests: ['sha256:b', 'sha256:c'] }]);
      // Rows this process never saw were pruned (it was suspended): it cannot know what it missed.
      const db = new DatabaseSync(file);
      db.prepare("INSERT INTO store_meta (k, v) VALUES ('revocation_log_pruned_through', 1000000)").run();
      db.close();
      await waitFor(() => events.at(-1)?.type === 'resync');
      expect(events.at(-1)).toEqual({ type: 'resync' });
      unsubscribe();
    } finally {
      await running.close();
      await cli.close();
    }
  });
});
