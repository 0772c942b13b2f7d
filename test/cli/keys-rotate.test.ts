/**
 * `trackgate keys rotate`, run as a real process on real files: each step refused (exit 1, file untouched)
 * until it is safe, then done, printing when the next step is allowed. Time passing is simulated by moving the
 * stamps the steps wrote back into the past.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateJwks, loadKeyRing } from '../../src/identity/keys.js';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'trackgate-keys-rotate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Jwk = Record<string, unknown> & { kid: string };
const read = (f: string): Jwk[] => (JSON.parse(readFileSync(f, 'utf8')) as { keys: Jwk[] }).keys;
/** Moves a stamp of key `kid` `ms` into the past, as if that much time had gone by. */
function age(f: string, kid: string, member: string, ms: number): void {
  const keys = read(f).map((k) => (k.kid === kid ? { ...k, [member]: new Date(Date.parse(String(k[member])) - ms).toISOString() } : k));
  writeFileSync(f, JSON.stringify({ keys }));
}

function setup(name: string, identity = ''): { config: string; keys: string; first: string } {
  const sub = mkdtempSync(join(dir, `${name}-`));
  const jwks = generateJwks();
  writeFileSync(join(sub, 'keys.json'), JSON.stringify(jwks));
  writeFileSync(join(sub, 'accounts.yaml'), 'users: []\n');
  writeFileSync(join(sub, 'trackgate.yaml'), `identity:\n  keysFile: keys.json\n  ttlSeconds: 60\n  minPublishSeconds: 600\n${identity}`);
  return { config: join(sub, 'trackgate.yaml'), keys: join(sub, 'keys.json'), first: jwks.keys[0]!.kid as string };
}

describe('keys rotate', () => {
  it('add → promote → retire, each refused until safe, with the time of the next step printed', async () => {
    const { config, keys, first } = setup('cycle');
    const status0 = await runCli(['keys', 'rotate', 'status', '--config', config]);
    expect(status0.code).toBe(0);
    expect(status0.stdout).toMatch(new RegExp(`^${first}  signing\\n`));

    const add = await runCli(['keys', 'rotate', 'add', '--config', config]);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    const [a, b] = read(keys);
    expect(a!.kid).toBe(first); // the old key still signs (first), the new one is published after it
    expect(typeof b!.published_at).toBe('string');
    expect(b!.d).toBeDefined();
    expect(statSync(keys).mode & 0o777).toBe(0o600);
    // Rounded up to the printed second: an operator who runs promote at that second is not refused.
    const allowed = new Date(Math.ceil((Date.parse(String(b!.published_at)) + 600_000) / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    expect(add.stdout).toContain(`added key ${b!.kid}`);
    expect(add.stdout).toContain(`promote allowed from ${allowed}`);
    expect(loadKeyRing(keys).active.kid).toBe(first);

    // Promote at once: refused, the file is left as it was.
    const before = readFileSync(keys, 'utf8');
    const early = await runCli(['keys', 'rotate', 'promote', '--config', config]);
    expect(early.code).toBe(1);
    expect(early.stdout).toBe('');
    expect(early.stderr).toContain(`promote refused: key ${b!.kid} was published at`);
    expect(early.stderr).toContain(`Promote allowed from ${allowed}`);
    expect(readFileSync(keys, 'utf8')).toBe(before);

    // Ten minutes later: promoted, first in the file (it signs), the old key still published.
    age(keys, b!.kid, 'published_at', 601_000);
    const promote = await runCli(['keys', 'rotate', 'promote', '--config', config]);
    expect(promote.stderr).toBe('');
    expect(promote.code).toBe(0);
    expect(promote.stdout).toContain(`promoted key ${b!.kid}`);
    expect(promote.stdout).toMatch(/retire allowed from \d{4}-\d\d-\d\dT[\d:]+Z \(identity\.ttlSeconds 60 \+ 60 s\)/);
    expect(read(keys).map((k) => k.kid)).toEqual([b!.kid, first]);
    expect(typeof read(keys)[0]!.activated_at).toBe('string');
    expect(loadKeyRing(keys).active.kid).toBe(b!.kid);

    // Retire at once: the old key's headers may still be valid.
    const retireEarly = await runCli(['keys', 'rotate', 'retire', '--config', config]);
    expect(retireEarly.code).toBe(1);
    expect(retireEarly.stderr).toContain(`retire refused: key ${b!.kid} was promoted at`);
    expect(read(keys)).toHaveLength(2);

    age(keys, b!.kid, 'activated_at', 121_000);
    const status = await runCli(['keys', 'rotate', 'status', '--config', config]);
    expect(status.stdout).toContain(`next: retire ${first} allowed now`);
    const retire = await runCli(['keys', 'rotate', 'retire', '--config', config]);
    expect(retire.stderr).toBe('');
    expect(retire.code).toBe(0);
    expect(retire.stdout).toContain(`retired ${first}`);
    expect(read(keys).map((k) => k.kid)).toEqual([b!.kid]);
  });

  it('never retires the signing key, and says when identity.activeKid in the config overrides the file', async () => {
    const { config, keys, first } = setup('activekid');
    const self = await runCli(['keys', 'rotate', 'retire', first, '--config', config]);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain(`key ${first} signs; promote another key first`);

    writeFileSync(config, `${readFileSync(config, 'utf8')}  activeKid: ${first}\n`);
    expect((await runCli(['keys', 'rotate', 'add', '--config', config])).code).toBe(0);
    const added = read(keys)[1]!;
    const promote = await runCli(['keys', 'rotate', 'promote', added.kid, '--config', config, '--force']);
    expect(promote.code).toBe(0);
    expect(promote.stdout).toContain(`identity.activeKid (${first}) is set in the config and wins over the file's order: set it to ${added.kid}`);
  });

  it('retire is refused without --force when the signing key has no activated_at', async () => {
    const { config, keys, first } = setup('noactivated');
    // b signed once (activated_at long ago); the signing key carries no stamp, so when b stopped is unknown.
    const g = generateJwks().keys[0]!;
    const b: Jwk = { ...g, kid: String(g.kid), activated_at: '2020-01-01T00:00:00Z' };
    writeFileSync(keys, JSON.stringify({ keys: [...read(keys), b] }));
    const before = readFileSync(keys, 'utf8');
    const status = await runCli(['keys', 'rotate', 'status', '--config', config]);
    expect(status.stdout).toContain(`next: retire ${b.kid} refused without --force (no activated_at on ${first}: cannot tell when the old key stopped signing)`);
    const retire = await runCli(['keys', 'rotate', 'retire', '--config', config]);
    expect(retire.code).toBe(1);
    expect(retire.stderr).toContain('cannot tell when the old key stopped signing');
    expect(readFileSync(keys, 'utf8')).toBe(before);
    const forced = await runCli(['keys', 'rotate', 'retire', '--config', config, '--force']);
    expect(forced.code).toBe(0);
    expect(read(keys).map((k) => k.kid)).toEqual([first]);
  });

  it('usage errors exit 2; a broken keys file exits 1 naming it and is not rewritten', async () => {
    const { config, keys } = setup('usage');
    expect((await runCli(['keys', 'rotate', '--config', config])).code).toBe(2);
    expect((await runCli(['keys', 'rotate', 'add', '--config', config, '--keys', keys])).code).toBe(2);
    expect((await runCli(['keys', 'rotate', 'add', '--keys', keys, '--alg', 'RS256'])).code).toBe(2);
    writeFileSync(keys, '{"keys": [');
    const broken = await runCli(['keys', 'rotate', 'add', '--keys', keys]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(`${keys}: cannot read a JWK set`);
    expect(readFileSync(keys, 'utf8')).toBe('{"keys": [');
  });
});
