/** The targeted-lockout rule with the Redis throttle (counters and trust marks shared by every replica). */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { RedisThrottle } from '../../../src/store/redis-throttle.js';
import { redisPerFile } from '../../helpers/redis-per-file.js';
import { LOCKOUT_RULES, lockoutContract } from '../../helpers/throttle-contract.js';

const redis = redisPerFile();

describe('RedisThrottle: targeted lockout', () => {
  lockoutContract(async (rules) => new RedisThrottle((await redis.connect()).redis, rules));

  it('a trust mark set through one replica is seen by another; names and addresses never appear in keys', async () => {
    const a = new RedisThrottle((await redis.connect()).redis, LOCKOUT_RULES);
    const store = await redis.connect();
    const b = new RedisThrottle(store.redis, LOCKOUT_RULES);
    const user = `u-${randomUUID()}`;
    const keys = (ip: string) => [{ scope: 'user' as const, value: user }, { scope: 'ip' as const, value: ip }];
    await a.succeed(keys('10.9.0.1'));
    for (let i = 1; i <= 6; i++) await a.fail(keys(`10.9.1.${i}`));
    await expect(b.check(keys('10.9.2.1'))).rejects.toMatchObject({ code: 'TG_ERR_THROTTLED' });
    await b.check(keys('10.9.0.1'));
    const all = (await store.redis.keys('tg:thr:*')).join(' ');
    expect(all).toContain('tg:thr:trust:');
    expect(all).not.toContain(user);
    expect(all).not.toContain('10.9.');
  });
});
