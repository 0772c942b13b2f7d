/**
 * The brute-force throttle of a worker process: every check, failure and success goes to the primary's one
 * MemoryThrottle, so N workers do not give an attacker N times the attempts and an address trusted by one
 * worker is trusted by all. Fails closed: when the primary does not answer in time the password check is
 * refused with 503 (TG_ERR_SOURCE_UNAVAILABLE), never let through unthrottled. (With a Redis store the app
 * uses RedisThrottle instead, shared by every replica.)
 */
import type { Throttle, ThrottleKey } from '../store/throttle.js';
import type { IpcChannel } from './ipc.js';
import { METHOD, type ThrottleParams } from './protocol.js';

export class IpcThrottle implements Throttle {
  constructor(private readonly primary: IpcChannel) {}

  async check(keys: readonly ThrottleKey[]): Promise<void> {
    await this.primary.request<void>(METHOD.throttleCheck, { keys: [...keys] } satisfies ThrottleParams);
  }

  async fail(keys: readonly ThrottleKey[]): Promise<void> {
    await this.primary.request<void>(METHOD.throttleFail, { keys: [...keys] } satisfies ThrottleParams);
  }

  /** Best effort: a lost trust mark costs the user only the lockout exemption, never the check that passed. */
  async succeed(keys: readonly ThrottleKey[]): Promise<void> {
    await this.primary.request<void>(METHOD.throttleSucceed, { keys: [...keys] } satisfies ThrottleParams).catch(() => undefined);
  }
}
