/**
 * A process where the argon2 native binding does not load (simulated by making the third-party module's
 * import throw): an argon2id account fails its checks like any other wrong password (reference KDF, padding,
 * a 401 through a real trackgate), and the calibration still times the other hash profiles.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AccountDirectory } from '../../src/accounts/directory.js';
import { PasswordVerifier, type PasswordCheckEvent } from '../../src/accounts/password-verifier.js';
import { hashPassword } from '../../src/accounts/password.js';
import { startGate } from '../helpers/gate.js';
import { basicAuth } from '../helpers/trackgate.js';

vi.mock('@node-rs/argon2', () => { throw new Error('binding missing on this platform'); });

/** Passes the accounts schema (a well-formed PHC string); cannot be evaluated without the binding. */
const ARGON2 = '$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => { for (const o of open.splice(0).reverse()) await o.close(); });

describe('argon2 binding missing', () => {
  it('verify: a failed check with the reference KDF and the whole floor, not an exception', async () => {
    const events: PasswordCheckEvent[] = [];
    const waits: number[] = [];
    const verifier = new PasswordVerifier({
      options: () => ({ failureFloorMs: 250, maxFailureFloorMs: 2000, referenceScryptLn: 10, maxConcurrentHashes: 4 }),
      onEvent: (e) => events.push(e),
      clock: () => 1_000,
      wait: async (ms) => { waits.push(ms); },
    });
    expect(await verifier.verifyOne(ARGON2, 'anything')).toBe(false);
    expect(events.filter((e) => e.type === 'hash').map((e) => (e as { work: string }).work)).toEqual(['reference']);
    expect(waits).toEqual([250]);
  });

  it('calibrate: a profile that throws does not stop the timing of the later ones (real clock)', async () => {
    const verifier = new PasswordVerifier({ options: () => ({ failureFloorMs: 0, maxFailureFloorMs: 60_000, referenceScryptLn: 10, maxConcurrentHashes: 4 }) });
    // bcrypt cost 13 (pure JS: hundreds of ms) after the argon2id profile; the reference (scrypt ln 10) takes a few ms.
    const dir = new AccountDirectory({
      users: [
        { username: 'a', password: ARGON2, webServiceKeys: [], accounts: [] },
        { username: 'b', password: `$2b$13$${'.'.repeat(53)}`, webServiceKeys: [], accounts: [] },
      ],
      admins: [], userGroups: [], applications: [],
    });
    await verifier.calibrate(dir);
    expect(verifier.floorMs()).toBeGreaterThan(100);
  }, 30_000);

  it('through trackgate: a Basic login to the argon2id account is a 401, not a 500', async () => {
    const scrypt = await hashPassword('other-password');
    const g = await startGate({
      files: { 'accounts.yaml': `users:\n  - username: argon\n    password: "${ARGON2}"\n  - username: other\n    password: "${scrypt}"\n` },
    });
    open.push(g);
    const res = await fetch(`${g.url}/rest/v2/whoami`, { headers: { authorization: basicAuth('argon', 'guess') } });
    await res.arrayBuffer();
    expect(res.status).toBe(401);
  });
});
