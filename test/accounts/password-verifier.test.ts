/**
 * The password verifier's structure (no timing measured here; the reliability suite measures it): every
 * kind of failed check performs exactly one slow KDF evaluation (the user's own, or the reference) and then
 * waits until the same floor after it began; a right password is never padded. The clock is frozen, so the
 * wait asked for is the whole floor.
 */
import { describe, expect, it } from 'vitest';
import { AccountDirectory } from '../../src/accounts/directory.js';
import { everyHashFormat } from '../helpers/hash-formats.js';
import { PasswordVerifier, type PasswordCheckEvent, type PasswordTimingOptions } from '../../src/accounts/password-verifier.js';

const HASHES = await everyHashFormat('right');

function harness(options: Partial<PasswordTimingOptions> = {}) {
  const events: PasswordCheckEvent[] = [];
  const waits: number[] = [];
  const opts = { failureFloorMs: 250, maxFailureFloorMs: 2000, referenceScryptLn: 10, maxConcurrentHashes: 4, ...options };
  const verifier = new PasswordVerifier({
    options: () => opts,
    onEvent: (e) => events.push(e),
    clock: () => 1_000, // frozen: measured evaluations take 0 ms, so the floor is failureFloorMs
    wait: async (ms) => { waits.push(ms); },
  });
  const work = () => events.filter((e) => e.type === 'hash').map((e) => (e as { work: string }).work);
  return { verifier, events, waits, work, opts };
}

describe('PasswordVerifier', () => {
  const failures: [kind: string, hash: string | undefined, slow: 'own' | 'reference'][] = [
    ['unknown user (no hash)', undefined, 'reference'],
    ['scrypt, wrong password', HASHES.scrypt, 'own'],
    ['bcrypt, wrong password', HASHES.bcrypt, 'own'],
    ['argon2id, wrong password', HASHES.argon2id, 'own'],
    ['apr1, wrong password', HASHES.apr1, 'reference'],
    ['{SHA}, wrong password', HASHES.sha1, 'reference'],
  ];
  for (const [kind, hash, slow] of failures) {
    it(`${kind}: one slow evaluation (${slow}) and a wait of the whole floor`, async () => {
      const h = harness();
      expect(await h.verifier.verifyOne(hash, 'wrong')).toBe(false);
      expect(h.work().filter((w) => w !== 'cheap')).toEqual([slow]);
      expect(h.waits).toEqual([250]);
      expect(h.events.filter((e) => e.type === 'failure')).toHaveLength(1);
    });
  }

  it('a right password is not padded, and a cheap legacy hash that matches costs no reference evaluation', async () => {
    for (const hash of Object.values(HASHES)) {
      const h = harness();
      expect(await h.verifier.verifyOne(hash, 'right'), hash).toBe(true);
      expect(h.waits).toEqual([]);
      expect(h.work()).not.toContain('reference');
    }
  });

  it('the reference hash\'s own password does not open an unknown user', async () => {
    const h = harness();
    expect(await h.verifier.verifyOne(undefined, 'trackgate-timing-reference')).toBe(false);
  });

  it('several secrets in one attempt: each is checked, and one wrong one pads the attempt to one floor per secret', async () => {
    const h = harness();
    expect(await h.verifier.verify([{ hash: HASHES.scrypt, secret: 'right' }, { hash: HASHES.apr1, secret: 'wrong' }])).toEqual([true, false]);
    expect(h.work().filter((w) => w !== 'cheap')).toEqual(['own', 'reference']);
    expect(h.waits).toEqual([500]);
  });

  it('failed(): a failure decided after the secrets matched waits the same floor', async () => {
    const h = harness();
    const started = h.verifier.start();
    expect(await h.verifier.verify([{ hash: HASHES.scrypt, secret: 'right' }], started)).toEqual([true]);
    await h.verifier.failed(started);
    expect(h.waits).toEqual([250]);
  });

  it('the floor follows the options live and stays within maxFailureFloorMs', async () => {
    const h = harness();
    h.opts.failureFloorMs = 40;
    expect(h.verifier.floorMs()).toBe(40);
    h.opts.maxFailureFloorMs = 10;
    expect(h.verifier.floorMs()).toBe(10);
  });

  it('calibrate() measures every slow hash profile of the accounts file: the floor then covers them (real clock)', async () => {
    const verifier = new PasswordVerifier({ options: () => ({ failureFloorMs: 0, maxFailureFloorMs: 60_000, referenceScryptLn: 10, maxConcurrentHashes: 4 }) });
    expect(verifier.floorMs()).toBe(0);
    const dir = new AccountDirectory({
      users: [{ username: 'a', password: HASHES.argon2id, webServiceKeys: [], accounts: [] }, { username: 'b', password: HASHES.sha1, webServiceKeys: [], accounts: [] }],
      admins: [], userGroups: [], applications: [],
    });
    await verifier.calibrate(dir);
    expect(verifier.floorMs()).toBeGreaterThan(0);
  });
});
