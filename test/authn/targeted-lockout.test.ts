/**
 * The targeted lockout (issue 13 item 6), through a real trackgate with an injected clock and clients on
 * distinct 127.0.0.x addresses: wrong passwords lock the guessing address out of the account, not the
 * account's owner, on the proxy path (Basic) and on a token endpoint (fleet_login); a guesser spread over
 * many addresses is still throttled per user (docs/SECURITY.md, "Password guessing and lockout").
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { hashPassword } from '../../src/accounts/password.js';
import { closeAddressAgents, fromAddress } from '../helpers/from-address.js';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';

let now = Date.UTC(2026, 0, 1);
const WINDOW_MS = 3600_000;

const gate = useGate(async () => {
  const accounts = parse(readFileSync(DEMO_ACCOUNTS, 'utf8')) as { users: Record<string, unknown>[] };
  accounts.users.push({ username: 'second.user', password: await hashPassword('second-password', { ln: 10, r: 8, p: 1 }) });
  return {
    files: { 'accounts.yaml': stringify(accounts) },
    now: () => now,
    config: {
      cache: { negativeTtlSeconds: 0 },
      throttle: { user: { limit: 3, windowSeconds: 3600 }, ip: { limit: 100, windowSeconds: 3600 }, lockout: { hardLimit: 6 } },
      passwords: { maxFailureFloorMs: 1 },
    },
  };
});
afterAll(async () => { await closeAddressAgents(); });

const basic = (from: string, user: string, password: string) =>
  fromAddress(from, `${gate.url}/x`, { headers: { authorization: basicAuth(user, password) } });
const login = (from: string, password: string) => fromAddress(from, `${gate.url}/auth/login`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: DEMO.user, password }),
});

describe('targeted lockout', () => {
  it('the owner with the right password from a clean address passes; the guessing address stays throttled', async () => {
    const attacker = '127.0.0.10';
    const owner = '127.0.0.20';
    for (let i = 0; i < 3; i++) expect((await basic(attacker, DEMO.user, `wrong-${i}`)).status).toBe(401);
    // Even the right password is refused from the guessing address (on both paths).
    expect((await basic(attacker, DEMO.user, DEMO.password)).status).toBe(429);
    expect((await login(attacker, DEMO.password)).status).toBe(429);
    // The owner, from an address with no failures for the account: the right password works.
    expect((await basic(owner, DEMO.user, DEMO.password)).status).toBe(200);
    expect((await login(owner, DEMO.password)).status).toBe(200);
    // The attacker's further guesses are still refused before any hash.
    expect((await basic(attacker, DEMO.user, 'wrong-again')).status).toBe(429);
    expect((await login(attacker, 'wrong-again')).status).toBe(429);
  });

  it('a guesser spread over many addresses gets hardLimit tries in all; then only trusted addresses pass', async () => {
    const user = 'second.user';
    // The owner logs in once before the attack: that address becomes trusted for the account.
    expect((await basic('127.0.1.200', user, 'second-password')).status).toBe(200);
    const statuses: number[] = [];
    for (let a = 1; a <= 10; a++) {
      for (let i = 0; i < 2; i++) statuses.push((await basic(`127.0.1.${a}`, user, `guess-${a}-${i}`)).status);
    }
    // Two from the first address (under the user limit of 3), one from the second (the user at 3), then one
    // each from the next three addresses (up to the hard limit of 6); every other guess is refused.
    expect(statuses.filter((s) => s === 401)).toHaveLength(6);
    expect(statuses.filter((s) => s !== 401).every((s) => s === 429)).toBe(true);
    // The owner's credential verified before the attack is still served from the validation cache, from anywhere.
    expect((await basic('127.0.2.1', user, 'second-password')).status).toBe(200);
    // Once it is no longer cached, past the hard limit a clean address is refused, even with the right password…
    gate.app.cache.clear();
    expect((await basic('127.0.2.1', user, 'second-password')).status).toBe(429);
    // …but the trusted address is not.
    expect((await basic('127.0.1.200', user, 'second-password')).status).toBe(200);
    // When the failures have slid out of the window (two windows later), a clean address may try again.
    now += 2 * WINDOW_MS;
    expect((await basic('127.0.2.1', user, 'second-password')).status).toBe(200);
  });
});
