/**
 * loadKeys: the one reader of `identity.keysFile` and `secretFile` (app, cluster primary, check-config), on
 * real files next to a real config file.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from '../../src/config/load.js';
import { loadConfig } from '../../src/config-schema.js';
import { generateJwks, generatedKeyRing } from '../../src/identity/keys.js';
import { loadKeyRingOf, loadKeys, loadSecretOf } from '../../src/identity/load-keys.js';
import { DEMO_ACCOUNTS } from '../helpers/trackgate.js';

const root = mkdtempSync(join(tmpdir(), 'trackgate-load-keys-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A config folder with the given files; returns the loaded config. */
function configWith(config: string, files: Record<string, string | Buffer> = {}) {
  const dir = mkdtempSync(join(root, 'c-'));
  copyFileSync(DEMO_ACCOUNTS, join(dir, 'accounts.yaml'));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  writeFileSync(join(dir, 'trackgate.yaml'), `accountsFile: accounts.yaml\n${config}`);
  return loadConfig(join(dir, 'trackgate.yaml'), {});
}

const problem = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  return expect.fail('expected a ConfigError');
};

describe('loadKeys', () => {
  it('reads both files relative to the config file, with identity.activeKid choosing the signing key', () => {
    const set = { keys: [...generateJwks('EdDSA').keys, ...generateJwks('ES256').keys] };
    const secret = Buffer.alloc(48, 7);
    const loaded = configWith(`secretFile: secret.bin\nidentity:\n  keysFile: keys/jwks.json\n  activeKid: ${String(set.keys[1]!.kid)}\n`,
      { 'secret.bin': secret, 'keys/jwks.json': JSON.stringify(set) });
    const keys = loadKeys(loaded, { ring: generatedKeyRing(), secret: Buffer.alloc(32, 1) });
    expect(keys.ring.generated).toBe(false);
    expect(keys.ring.keys.map((k) => k.kid)).toEqual(set.keys.map((k) => k.kid));
    expect(keys.ring.active.kid).toBe(set.keys[1]!.kid);
    expect(keys.ring.active.alg).toBe('ES256');
    expect(keys.secret.equals(secret)).toBe(true);
    expect(keys.secretGenerated).toBe(false);
  });

  it('no files configured: a generated key ring and a random 32-byte secret, new each time', () => {
    const loaded = configWith('');
    const a = loadKeys(loaded);
    const b = loadKeys(loaded);
    expect(a.ring.generated).toBe(true);
    expect(a.secretGenerated).toBe(true);
    expect(a.secret).toHaveLength(32);
    expect(a.secret.equals(b.secret)).toBe(false);
    expect(a.ring.active.kid).not.toBe(b.ring.active.kid);
    expect(loadKeyRingOf(loaded)).toBeUndefined();
    expect(loadSecretOf(loaded)).toBeUndefined();
  });

  it('no files configured: what the cluster primary handed over is used instead', () => {
    const ring = generatedKeyRing();
    const secret = Buffer.alloc(32, 9);
    const keys = loadKeys(configWith(''), { ring, secret });
    expect(keys.ring).toBe(ring);
    expect(keys.secret).toBe(secret);
    expect(keys.secretGenerated).toBe(true);
  });

  it('a bad keys file: a ConfigError naming the config file, identity.keysFile and the keys file', () => {
    const loaded = configWith('identity:\n  keysFile: jwks.json\n', { 'jwks.json': '{"keys": []}' });
    const msg = problem(() => loadKeys(loaded));
    expect(msg).toContain(`${loaded.file}: identity.keysFile: `);
    expect(msg).toContain('at least one key');
    const missing = configWith('identity:\n  keysFile: nowhere.json\n');
    expect(problem(() => loadKeyRingOf(missing))).toMatch(/identity\.keysFile: .*nowhere\.json: cannot read a JWK set/);
    const wrongKid = configWith('identity:\n  keysFile: jwks.json\n  activeKid: nope\n', { 'jwks.json': JSON.stringify(generateJwks()) });
    expect(problem(() => loadKeys(wrongKid))).toContain('activeKid "nope" is not in the set');
  });

  it('a missing or short secret file: a ConfigError naming secretFile, never its content', () => {
    const missing = configWith('secretFile: nowhere.bin\n');
    expect(problem(() => loadKeys(missing))).toBe(`${missing.file}: secretFile: cannot read (ENOENT)`);
    const short = configWith('secretFile: secret.bin\n', { 'secret.bin': 'short-secret-31-bytes-long-xxxx' });
    const msg = problem(() => loadSecretOf(short));
    expect(msg).toBe(`${short.file}: secretFile: must hold at least 32 bytes`);
    expect(msg).not.toContain('short-secret');
    const exact = configWith('secretFile: secret.bin\n', { 'secret.bin': Buffer.alloc(32, 3) });
    expect(loadSecretOf(exact)).toHaveLength(32);
  });
});
