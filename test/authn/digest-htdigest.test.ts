/** Apache htdigest files → accounts-file Digest material. */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { HtdigestError, parseHtdigest } from '../../src/accounts/htdigest.js';
import { userSchema } from '../../src/accounts/schema.js';

const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');

describe('parseHtdigest', () => {
  const alice = md5('alice:GPS Data Web Service:wonderland');
  const bob = md5('bob:other realm:builder');
  const file = [
    '# made by htdigest',
    `alice:GPS Data Web Service:${alice}`,
    '',
    `bob:other realm:${bob.toUpperCase()}\r`,
    `J\u00e4s\u00f8n Doe:GPS Data Web Service:${md5('J\u00e4s\u00f8n Doe:GPS Data Web Service:x')}`,
    '',
  ].join('\n');

  it('turns every line into digest material (MD5 HA1, lower-cased), skipping blanks and comments', () => {
    expect(parseHtdigest(file)).toEqual([
      { username: 'alice', digest: { realm: 'GPS Data Web Service', ha1: { MD5: alice } } },
      { username: 'bob', digest: { realm: 'other realm', ha1: { MD5: bob } } },
      { username: 'J\u00e4s\u00f8n Doe', digest: { realm: 'GPS Data Web Service', ha1: { MD5: md5('J\u00e4s\u00f8n Doe:GPS Data Web Service:x') } } },
    ]);
  });

  it('keeps one realm when asked', () => {
    expect(parseHtdigest(file, { realm: 'other realm' }).map((e) => e.username)).toEqual(['bob']);
    expect(parseHtdigest(file, { realm: 'nope' })).toEqual([]);
  });

  it('produces what the accounts schema accepts', () => {
    for (const e of parseHtdigest(file)) {
      expect(userSchema.parse({ username: e.username, digest: e.digest }).digest).toEqual(e.digest);
    }
  });

  it('accepts a BOM and an empty file', () => {
    expect(parseHtdigest(`\uFEFFalice:r:${alice}`)).toHaveLength(1);
    expect(parseHtdigest('')).toEqual([]);
  });

  it.each([
    ['two fields', `alice:${alice}`, /line 2: expected user:realm:hash, found 2/],
    ['four fields', `alice:r:x:${alice}`, /found 4/],
    ['short hash', 'alice:r:abc', /32 hex digits/],
    ['sha256 hash', `alice:r:${alice}${alice}`, /32 hex digits/],
    ['empty user', `:r:${alice}`, /empty user/],
    ['empty realm', `alice::${alice}`, /empty realm/],
    ['control char', `al\u0001ice:r:${alice}`, /control character/],
    ['repeated user and realm', `alice:r:${alice}\nalice:r:${alice}`, /line 3: user "alice" repeated/],
  ])('rejects %s, naming the line and never the hash', (_n, body, message) => {
    let err: unknown;
    try { parseHtdigest(`# header\n${body}`); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(HtdigestError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain(alice);
  });

  it('allows the same user in two realms', () => {
    expect(parseHtdigest(`alice:r1:${alice}\nalice:r2:${alice}`)).toHaveLength(2);
  });
});
