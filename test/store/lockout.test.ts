/**
 * The targeted-lockout rule in memory and through the cluster worker's IPC throttle (an in-process channel
 * pair in front of one MemoryThrottle, as src/cluster/primary.ts serves it); the Redis throttle runs the same
 * contract in test/e2e/redis/lockout.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { IpcChannel } from '../../src/cluster/ipc.js';
import { IpcThrottle } from '../../src/cluster/ipc-throttle.js';
import { METHOD, type ThrottleParams } from '../../src/cluster/protocol.js';
import { MemoryThrottle } from '../../src/store/throttle.js';
import { LOCKOUT_RULES, lockoutContract } from '../helpers/throttle-contract.js';

describe('MemoryThrottle: targeted lockout', () => {
  lockoutContract(async (rules) => new MemoryThrottle(rules));

  it('trust ends after lockout.trustSeconds (injected clock)', async () => {
    let now = 1_000_000;
    const t = new MemoryThrottle(LOCKOUT_RULES, () => now);
    const keys = (ip: string) => [{ scope: 'user' as const, value: 'u' }, { scope: 'ip' as const, value: ip }];
    await t.succeed(keys('10.0.0.9'));
    for (let a = 1; a <= 6; a++) await t.fail(keys(`10.0.0.${a}`));
    await t.check(keys('10.0.0.9'));
    now += 3600_000 - 1;
    await t.fail(keys('10.0.0.7')); // keep the user over its hard limit in the next window
    for (let a = 1; a <= 6; a++) await t.fail(keys(`10.0.1.${a}`));
    now += 2;
    await expect(t.check(keys('10.0.0.9'))).rejects.toMatchObject({ code: 'TG_ERR_THROTTLED' });
  });

  it('shortening lockout.trustSeconds on reload shortens trust already given (injected clock)', async () => {
    let now = 1_000_000;
    const rules = structuredClone(LOCKOUT_RULES);
    const t = new MemoryThrottle(rules, () => now);
    const keys = (ip: string) => [{ scope: 'user' as const, value: 'u' }, { scope: 'ip' as const, value: ip }];
    await t.succeed(keys('10.0.0.9'));
    for (let a = 1; a <= 6; a++) await t.fail(keys(`10.0.0.${a}`));
    now += 120_000;
    await t.check(keys('10.0.0.9')); // granted for an hour, two minutes in
    rules.lockout!.trustSeconds = 60;
    await expect(t.check(keys('10.0.0.9'))).rejects.toMatchObject({ code: 'TG_ERR_THROTTLED' });
  });
});

describe('IpcThrottle: targeted lockout, decided by the primary\'s one MemoryThrottle', () => {
  lockoutContract(async (rules) => {
    const throttle = new MemoryThrottle(rules);
    let worker: IpcChannel | undefined;
    const primary = new IpcChannel((msg) => { queueMicrotask(() => worker!.receive(structuredClone(msg))); });
    worker = new IpcChannel((msg) => { queueMicrotask(() => primary.receive(structuredClone(msg))); });
    primary.handle(METHOD.throttleCheck, (p: ThrottleParams) => throttle.check(p.keys))
      .handle(METHOD.throttleFail, (p: ThrottleParams) => throttle.fail(p.keys))
      .handle(METHOD.throttleSucceed, (p: ThrottleParams) => throttle.succeed(p.keys));
    return new IpcThrottle(worker);
  });
});
