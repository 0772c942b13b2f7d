/** The first-match rules of src/authn/form-policies.ts: which policy applies, which forms stay accepted and challenged. */
import { describe, expect, it } from 'vitest';
import { FormPolicies, type MigrationPolicy } from '../../src/authn/form-policies.js';

const p = (name: string, policy: MigrationPolicy['policy'], more: Partial<MigrationPolicy> = {}): MigrationPolicy =>
  ({ name, forms: ['digest'], policy, ...more });

describe('FormPolicies', () => {
  it('the first matching policy wins, by form, path prefix (segment boundary) and account', () => {
    const fp = new FormPolicies([
      p('fleet-a', 'allow', { accounts: ['a'] }),
      p('api', 'deny', { pathPrefix: '/api' }),
      p('rest', 'deprecated'),
    ], ['basic', 'digest']);
    expect(fp.match('digest', 'a', '/api/x')?.name).toBe('fleet-a');
    expect(fp.match('digest', 'b', '/api/x')?.name).toBe('api');
    expect(fp.match('digest', undefined, '/apix')?.name).toBe('rest');
    expect(fp.match('basic', 'b', '/api/x')).toBeUndefined();
  });

  it('accepted: the enabled forms not denied to this account at this path, in their order', () => {
    const fp = new FormPolicies([p('api', 'deny', { pathPrefix: '/api', forms: ['basic', 'digest'] })], ['basic', 'digest', 'bearer']);
    expect(fp.accepted('a', '/api/x')).toEqual(['bearer']);
    expect(fp.accepted('a', '/other')).toEqual(['basic', 'digest', 'bearer']);
  });

  it('hiddenAt: only forms denied to every account there; an account-narrowed allow first keeps the challenge', () => {
    expect(new FormPolicies([p('off', 'deny')], ['basic', 'digest']).hiddenAt('/x')).toEqual(new Set(['digest']));
    expect(new FormPolicies([p('a', 'allow', { accounts: ['a'] }), p('off', 'deny')], ['basic', 'digest']).hiddenAt('/x')).toBeUndefined();
    // Denied to one account first, then to everyone: hidden; denied to one account only: not.
    expect(new FormPolicies([p('a', 'deny', { accounts: ['a'] }), p('off', 'deny')], ['digest']).hiddenAt('/x')).toEqual(new Set(['digest']));
    expect(new FormPolicies([p('a', 'deny', { accounts: ['a'] })], ['digest']).hiddenAt('/x')).toBeUndefined();
    expect(new FormPolicies([p('off', 'deny', { pathPrefix: '/api' })], ['digest']).hiddenAt('/web')).toBeUndefined();
    expect(new FormPolicies([p('dep', 'deprecated')], ['digest']).hiddenAt('/x')).toBeUndefined();
  });

  it('builds each policy\'s headers once and lists sunsets per form', () => {
    const fp = new FormPolicies([p('s', 'deprecated', { forms: ['basic', 'digest'], sunset: '2027-01-01', deprecation: '2026-01-01T12:00:00Z' })], ['basic', 'digest']);
    expect(fp.match('basic', undefined, '/')).toBe(fp.match('digest', undefined, '/'));
    expect(fp.match('basic', undefined, '/')?.headers).toEqual({ deprecation: `@${Date.UTC(2026, 0, 1, 12) / 1000}`, sunset: 'Fri, 01 Jan 2027 00:00:00 GMT' });
    expect(fp.sunsets()).toEqual([{ policy: 's', scheme: 'basic', seconds: Date.UTC(2027, 0, 1) / 1000 }, { policy: 's', scheme: 'digest', seconds: Date.UTC(2027, 0, 1) / 1000 }]);
  });
});
