/**
 * The `trackgate` command, run as a real process (`node bin/trackgate.js`, i.e. dist/ built by the
 * globalSetup): exit codes, stdout/stderr, and that what it prints is usable by the rest of trackgate.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyPassword } from '../../src/accounts/password.js';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { loadKeyRing } from '../../src/identity/keys.js';
import { CLEAN_ENV, runCli, type CliRun } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'trackgate-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ENV = CLEAN_ENV;

type Run = CliRun;
const run = (args: string[], input?: string, env: NodeJS.ProcessEnv = ENV): Promise<Run> => runCli(args, { ...(input !== undefined ? { input } : {}), env });

describe.concurrent('check-config', () => {
  it('accepts the shipped config/trackgate.yaml: exit 0, "ok" and the accounts summary; warns of its relative store path', async () => {
    const r = await run(['check-config', 'config/trackgate.yaml']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^config\/trackgate\.yaml: ok \(\d+ users, \d+ admins, /);
    // The first warning; a clone under /tmp gets a second one, of the temporary folder.
    expect(r.stderr.split('\n')[0] + '\n').toBe(`trackgate: warning: store.url "sqlite:data/trackgate.sqlite": a relative path opens ${join(ROOT, 'data/trackgate.sqlite')}, `
      + 'under the working directory, not the config file\'s folder; in a container that is the image\'s own filesystem, lost with the container: '
      + 'use an absolute path on a volume\n');
  });

  it('warns of a SQLite store in memory or a temporary folder (exit 0), and not of one on a volume', async () => {
    const sub = mkdtempSync(join(dir, 'store-'));
    copyFileSync(join(ROOT, 'config/accounts.yaml'), join(sub, 'accounts.yaml'));
    const check = (url: string): Promise<Run> => {
      writeFileSync(join(sub, 'trackgate.yaml'), `accountsFile: accounts.yaml\nstore:\n  url: "${url}"\n`);
      return run(['check-config', join(sub, 'trackgate.yaml')]);
    };
    const memory = await check('sqlite::memory:');
    expect(memory.code).toBe(0);
    expect(memory.stderr).toMatch(/^trackgate: warning: store\.url "sqlite::memory:": tokens live in this process's memory/);
    const tmp = await check('sqlite:/dev/shm/trackgate.sqlite');
    expect(tmp.code).toBe(0);
    expect(tmp.stderr).toContain('/dev/shm/trackgate.sqlite is under /dev/shm, a temporary folder');
    // TRACKGATE_STORE is what the image sets: the warning reads the config as the app would.
    const fromEnv = await runCli(['check-config', join(sub, 'trackgate.yaml')], { env: { ...ENV, TRACKGATE_STORE: 'sqlite:/var/lib/trackgate/trackgate.sqlite' } });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stderr).toBe('');
  }, 60_000);

  it('a bad value: exit 1, stderr names the file and the key, nothing on stdout', async () => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'cache:\n  maxEntries: -1\n');
    const r = await run(['check-config', f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`trackgate: invalid configuration: ${f}: cache.maxEntries: `);
  });

  it('a bad env override names the variable', async () => {
    const r = await run(['check-config', 'config/trackgate.yaml'], '', { ...ENV, TRACKGATE_CACHE_MAX_ENTRIES: 'lots' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cache\.maxEntries \(from TRACKGATE_CACHE_MAX_ENTRIES\)/);
  });

  it('a bad accounts file: exit 1, stderr names the accounts file and the entry', async () => {
    const sub = mkdtempSync(join(dir, 'acc-'));
    writeFileSync(join(sub, 'trackgate.yaml'), 'accountsFile: accounts.yaml\n');
    writeFileSync(join(sub, 'accounts.yaml'), 'users:\n  - username: a\n    password: plaintext\n');
    const r = await run(['check-config', join(sub, 'trackgate.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(sub, 'accounts.yaml')}: users.0.password: `);
  });

  it('reads secretFile as the app would at start: a short secret is refused with exit 1', async () => {
    const sub = mkdtempSync(join(dir, 'secret-'));
    copyFileSync(join(ROOT, 'config/accounts.yaml'), join(sub, 'accounts.yaml'));
    writeFileSync(join(sub, 'trackgate.yaml'), 'secretFile: secret.bin\n');
    writeFileSync(join(sub, 'secret.bin'), 'too-short');
    const bad = await run(['check-config', join(sub, 'trackgate.yaml')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('secretFile: must hold at least 32 bytes');
    expect(bad.stderr).not.toContain('too-short');
    writeFileSync(join(sub, 'secret.bin'), Buffer.alloc(32, 5));
    expect((await run(['check-config', join(sub, 'trackgate.yaml')])).code).toBe(0);
  });

  it('a missing FILE: usage error, exit 2', async () => {
    const r = await run(['check-config']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/check-config needs a FILE/);
  });
});

describe.concurrent('hash-password', () => {
  it('reads the secret on stdin and prints a $scrypt$ hash that verifyPassword accepts', async () => {
    const r = await run(['hash-password'], 'correct horse battery staple\n');
    expect(r.code).toBe(0);
    const hash = r.stdout.trimEnd();
    expect(r.stdout.endsWith('\n')).toBe(true);
    expect(hash).toMatch(/^\$scrypt\$ln=\d+,r=\d+,p=\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(await verifyPassword(hash, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(hash, 'correct horse battery staple\n')).toBe(false);
    expect(await verifyPassword(hash, 'wrong')).toBe(false);
  });

  it('--lookup prints the sha256: lookup digest', async () => {
    const r = await run(['hash-password', '--lookup'], 'demo-web-service-key\n');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${lookupDigest('demo-web-service-key')}\n`);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
  });

  it('an empty stdin is refused with exit 2', async () => {
    const r = await run(['hash-password'], '');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/empty secret/);
  });
});

describe.concurrent('keys generate', () => {
  it('prints a private Ed25519 JWK set with a kid that loads as identity.keysFile', async () => {
    const r = await run(['keys', 'generate']);
    expect(r.code).toBe(0);
    const jwks = JSON.parse(r.stdout) as { keys: Record<string, string>[] };
    expect(jwks.keys).toHaveLength(1);
    const k = jwks.keys[0]!;
    expect(k).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(k.d).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(k.x).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(k.kid).toMatch(/\S/);
    const f = join(dir, 'ed.jwks.json');
    writeFileSync(f, r.stdout);
    const ring = loadKeyRing(f);
    expect(ring.active.kid).toBe(k.kid);
    expect(JSON.stringify(ring.jwks())).not.toContain(k.d);
  });

  it('--alg ES256 prints a P-256 key; each run a new kid', async () => {
    const [a, b] = await Promise.all([run(['keys', 'generate', '--alg', 'ES256']), run(['keys', 'generate', '--alg', 'ES256'])]);
    expect(a.code).toBe(0);
    const ka = (JSON.parse(a.stdout) as { keys: Record<string, string>[] }).keys[0]!;
    const kb = (JSON.parse(b.stdout) as { keys: Record<string, string>[] }).keys[0]!;
    expect(ka).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect(typeof ka.d).toBe('string');
    expect(ka.kid).not.toBe(kb.kid);
    const f = join(dir, 'es.jwks.json');
    writeFileSync(f, a.stdout);
    expect(loadKeyRing(f).active.alg).toBe('ES256');
  });

  it('check-config loads the generated keys file', async () => {
    const sub = mkdtempSync(join(dir, 'keys-'));
    copyFileSync(join(ROOT, 'config/accounts.yaml'), join(sub, 'accounts.yaml'));
    writeFileSync(join(sub, 'jwks.json'), (await run(['keys', 'generate'])).stdout);
    writeFileSync(join(sub, 'trackgate.yaml'), 'identity:\n  keysFile: jwks.json\n');
    const ok = await run(['check-config', join(sub, 'trackgate.yaml')]);
    expect(ok.code).toBe(0);
    writeFileSync(join(sub, 'trackgate.yaml'), 'identity:\n  keysFile: jwks.json\n  activeKid: nope\n');
    const bad = await run(['check-config', join(sub, 'trackgate.yaml')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/identity\.keysFile: /);
  });

  it('an unknown --alg or keys subcommand exits 2', async () => {
    expect((await run(['keys', 'generate', '--alg', 'RS256'])).code).toBe(2);
    expect((await run(['keys', 'rotate'])).code).toBe(2);
  });
});

describe.concurrent('other commands', () => {
  it('an unknown command exits 2 with the usage on stderr', async () => {
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
    expect(r.stderr).toMatch(/usage:/);
  });

  it('an unknown option exits non-zero with a message, not a stack trace', async () => {
    const r = await run(['--bogus']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/bogus/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('help and no arguments print the usage, exit 0', async () => {
    for (const args of [['help'], [], ['--help']]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^usage:/);
      expect(r.stdout).toContain('config-docs');
    }
  });

  it('config-docs prints the Markdown config reference', async () => {
    const r = await run(['config-docs']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# Configuration reference\n/);
    expect(r.stdout).toContain('| `cache.maxEntries` |');
  });
});
