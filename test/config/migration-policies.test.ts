/** `migration.policies` and report-only route rules are validated with errors that name the key and the fix. */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/config-schema.js';

function errorOf(raw: Record<string, unknown>): string {
  try {
    validateConfig(raw, undefined, {});
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('config accepted');
}

const policy = { name: 'digest-off', forms: ['digest'], policy: 'deny' };

describe('migration.policies', () => {
  it('accepts a full policy and defaults to none', () => {
    expect(validateConfig({}, undefined, {}).config.migration.policies).toEqual([]);
    const { config } = validateConfig({ migration: { policies: [{ ...policy, policy: 'deprecated', accounts: ['a'], pathPrefix: '/api', deprecation: '2026-11-01', sunset: '2027-06-30T12:00:00Z', link: 'https://gps.example/m' }] } }, undefined, {});
    expect(config.migration.policies[0]).toMatchObject({ name: 'digest-off', policy: 'deprecated', pathPrefix: '/api' });
  });

  it('names an unknown form and lists the known ones', () => {
    expect(errorOf({ migration: { policies: [{ ...policy, forms: ['ntlm'] }] } })).toMatch(/migration\.policies\.0\.forms\.0.*must be a credential form: basic, digest/);
  });

  it('refuses an unknown effect, a bad date, a non-canonical prefix, a link with credentials and a name used twice', () => {
    expect(errorOf({ migration: { policies: [{ ...policy, policy: 'block' }] } })).toMatch(/migration\.policies\.0\.policy/);
    expect(errorOf({ migration: { policies: [{ ...policy, sunset: '30/06/2027' }] } })).toMatch(/sunset.*must be a date such as 2027-03-31/);
    expect(errorOf({ migration: { policies: [{ ...policy, sunset: '2027-02-31' }] } })).toMatch(/sunset/);
    expect(errorOf({ migration: { policies: [{ ...policy, pathPrefix: '/a/../b' }] } })).toMatch(/pathPrefix.*canonical/);
    expect(errorOf({ migration: { policies: [{ ...policy, link: 'https://u:p@gps.example/' }] } })).toMatch(/link.*http\(s\) URL/);
    expect(errorOf({ migration: { policies: [policy, policy] } })).toMatch(/policy name digest-off is used twice/);
    expect(errorOf({ migration: { policies: [{ ...policy, name: 'Digest Off' }] } })).toMatch(/name.*metric label/);
  });

  it('route rules take mode: report-only and a name, nothing else', () => {
    expect(validateConfig({ routes: [{ path: '/r', name: 'r-admins', mode: 'report-only', access: { kinds: ['admin'] } }] }, undefined, {}).config.routes[0]).toMatchObject({ mode: 'report-only' });
    expect(errorOf({ routes: [{ path: '/r', mode: 'dry-run', access: 'deny' }] })).toMatch(/routes\.0\.mode/);
  });
});
