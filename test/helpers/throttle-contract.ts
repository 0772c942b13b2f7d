/**
 * The targeted-lockout rule (src/store/lockout-rule.ts) as every Throttle implementation must apply it:
 * memory, Redis (shared counters) and the cluster worker's IPC throttle run these same cases.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import type { Throttle, ThrottleKey, ThrottleRules } from '../../src/store/throttle.js';

/** user limit 3, hard limit 6, trusted for an hour; windows of an hour so no case crosses a boundary. */
export const LOCKOUT_RULES: ThrottleRules = {
  user: { limit: 3, windowSeconds: 3600 },
  ip: { limit: 20, windowSeconds: 3600 },
  lockout: { hardLimit: 6, trustSeconds: 3600 },
};

export function lockoutContract(make: (rules: ThrottleRules) => Promise<Throttle>): void {
  const keysOf = (user: string, ip: string): ThrottleKey[] => [{ scope: 'user', value: user }, { scope: 'ip', value: ip }];
  const refused = async (t: Throttle, keys: ThrottleKey[]): Promise<boolean> =>
    t.check(keys).then(() => false, (e: { code?: string }) => {
      expect(e.code).toBe('TG_ERR_THROTTLED');
      return true;
    });
  /** An attempt: checked, then failed (a wrong password) when allowed; returns whether it was allowed. */
  const guess = async (t: Throttle, user: string, ip: string): Promise<boolean> => {
    if (await refused(t, keysOf(user, ip))) return false;
    await t.fail(keysOf(user, ip));
    return true;
  };

  it('the guessing address is locked out of the user; the owner from a clean address is not', async () => {
    const t = await make(LOCKOUT_RULES);
    const user = `u-${randomUUID()}`;
    for (let i = 0; i < 3; i++) expect(await guess(t, user, '10.0.0.1')).toBe(true);
    expect(await refused(t, keysOf(user, '10.0.0.1'))).toBe(true);
    expect(await refused(t, keysOf(user, '10.0.0.2'))).toBe(false);
  });

  it('a distributed guesser gets one try per address while the user is over its limit, and hardLimit tries in all', async () => {
    const t = await make(LOCKOUT_RULES);
    const user = `u-${randomUUID()}`;
    let allowed = 0;
    for (let a = 1; a <= 12; a++) {
      for (let i = 0; i < 3; i++) if (await guess(t, user, `10.1.0.${a}`)) allowed++;
    }
    // 3 from the first address (up to the user limit), then one from each of the next three (up to 6).
    expect(allowed).toBe(6);
    // Past the hard limit a clean address is refused too…
    expect(await refused(t, keysOf(user, '10.1.1.1'))).toBe(true);
    // …and other users are untouched.
    expect(await refused(t, keysOf(`u-${randomUUID()}`, '10.1.1.1'))).toBe(false);
  });

  it('an address that passed a check for the user stays trusted past both limits, within its own failures', async () => {
    const t = await make(LOCKOUT_RULES);
    const user = `u-${randomUUID()}`;
    await t.check(keysOf(user, '10.2.0.1'));
    await t.succeed(keysOf(user, '10.2.0.1'));
    for (let a = 1; a <= 10; a++) await guess(t, user, `10.2.1.${a}`);
    expect(await refused(t, keysOf(user, '10.2.9.9'))).toBe(true); // over the hard limit
    expect(await refused(t, keysOf(user, '10.2.0.1'))).toBe(false); // trusted
    // Trusted for this user only.
    for (let i = 0; i < 3; i++) await t.fail(keysOf(`v-${user}`, '10.2.2.2'));
    expect(await refused(t, keysOf(`v-${user}`, '10.2.0.1'))).toBe(false); // clean for v, under its hard limit
    // Its own failures still count against the user limit.
    for (let i = 0; i < 3; i++) expect(await guess(t, user, '10.2.0.1')).toBe(true);
    expect(await refused(t, keysOf(user, '10.2.0.1'))).toBe(true);
  });

  it('the per-address limit applies to trusted addresses as well', async () => {
    const t = await make({ ...LOCKOUT_RULES, ip: { limit: 4, windowSeconds: 3600 } });
    const user = `u-${randomUUID()}`;
    await t.succeed(keysOf(user, '10.3.0.1'));
    for (let i = 0; i < 4; i++) await t.fail(keysOf(`other-${i}-${user}`, '10.3.0.1'));
    expect(await refused(t, keysOf(user, '10.3.0.1'))).toBe(true);
  });

  it('hardLimit at or below the user limit: no clean-address exemption, only trusted addresses', async () => {
    const t = await make({ ...LOCKOUT_RULES, lockout: { hardLimit: 0, trustSeconds: 3600 } });
    const user = `u-${randomUUID()}`;
    await t.succeed(keysOf(user, '10.4.0.9'));
    for (let i = 0; i < 3; i++) await guess(t, user, '10.4.0.1');
    expect(await refused(t, keysOf(user, '10.4.0.2'))).toBe(true);
    expect(await refused(t, keysOf(user, '10.4.0.9'))).toBe(false);
  });

  it('lowering lockout.trustSeconds to 0 on reload takes back trust already given', async () => {
    // One rules object, changed in place: every throttle reads its rules on each call, as from the live config.
    const rules: ThrottleRules = structuredClone(LOCKOUT_RULES);
    const t = await make(rules);
    const user = `u-${randomUUID()}`;
    await t.succeed(keysOf(user, '10.5.0.1'));
    for (let a = 1; a <= 6; a++) await guess(t, user, `10.5.1.${a}`);
    expect(await refused(t, keysOf(user, '10.5.0.1'))).toBe(false); // trusted
    rules.lockout!.trustSeconds = 0;
    expect(await refused(t, keysOf(user, '10.5.0.1'))).toBe(true); // over the hard limit, no longer trusted
  });

  it('failures under a limit of 0 are not counted: raising it on reload starts from zero', async () => {
    const rules: ThrottleRules = structuredClone(LOCKOUT_RULES);
    rules.user.limit = 0;
    rules.ip.limit = 0;
    const t = await make(rules);
    const user = `u-${randomUUID()}`;
    for (let i = 0; i < 5; i++) expect(await guess(t, user, '10.6.0.1')).toBe(true);
    rules.user.limit = 3;
    rules.ip.limit = 4;
    expect(await refused(t, keysOf(user, '10.6.0.1'))).toBe(false);
  });
}
