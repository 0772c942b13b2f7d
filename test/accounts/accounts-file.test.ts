/**
 * AccountsDocument's keyed lookups (src/accounts/accounts-file.ts), on a real file: each section's key as the
 * commands compare it, and the index kept right through add, remove and a change of a key field.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AccountsDocument, adminKey } from '../../src/accounts/accounts-file.js';

const dir = mkdtempSync(join(tmpdir(), 'tg-accounts-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function open(text: string): AccountsDocument {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, text);
  return AccountsDocument.open(file);
}

const FILE = [
  'users:',
  '  - { username: "caf\u00e9", password: "{SHA}a" }',
  '  - { username: bob, password: "{SHA}first" }',
  '  - { username: bob, password: "{SHA}second" }',
  'admins:',
  '  - { email: Ops@Example.com, instanceId: i1, instanceKey: "{SHA}k", password: "{SHA}p" }',
  'userGroups:',
  '  - { instanceId: g1, instanceKey: "{SHA}k", devices: [] }',
  'applications:',
  '  - { clientId: app1, clientSecret: "{SHA}s" }',
  '',
].join('\n');

describe('AccountsDocument.get', () => {
  it('finds each section\'s entries by key: a user by its NFC name, an admin by instance and any-case email', () => {
    const doc = open(FILE);
    expect(doc.get('users', 'cafe\u0301')?.value.password).toBe('{SHA}a');
    expect(doc.get('users', 'bob')?.value.password).toBe('{SHA}first'); // the first of a repeated key, as a scan finds it
    expect(doc.get('users', 'nobody')).toBeUndefined();
    expect(doc.get('admins', adminKey('i1', 'ops@example.COM'))?.value.email).toBe('Ops@Example.com');
    expect(doc.get('admins', adminKey('i2', 'ops@example.com'))).toBeUndefined();
    expect(doc.get('userGroups', 'g1')?.value.instanceId).toBe('g1');
    expect(doc.get('applications', 'app1')?.value.clientId).toBe('app1');
  });

  it('stays right through add, remove and a change of a key field; values are read as the node is now', () => {
    const doc = open(FILE);
    expect(doc.get('users', 'zoe')).toBeUndefined(); // the index is built here
    doc.add('users', { username: 'zoe', password: '{SHA}z' });
    const zoe = doc.get('users', 'zoe')!;
    doc.set(zoe.node, 'password', '{SHA}z2');
    expect(doc.get('users', 'zoe')!.value.password).toBe('{SHA}z2');

    doc.remove('users', doc.get('users', 'bob')!);
    expect(doc.get('users', 'bob')?.value.password).toBe('{SHA}second');
    doc.remove('users', doc.get('users', 'bob')!);
    expect(doc.get('users', 'bob')).toBeUndefined();

    doc.set(zoe.node, 'username', 'zed');
    expect(doc.get('users', 'zoe')).toBeUndefined();
    expect(doc.get('users', 'zed')?.value.password).toBe('{SHA}z2');
    expect(doc.entries('users').map((e) => e.value.username)).toEqual(['caf\u00e9', 'zed']);
    expect(doc.toString()).not.toContain('bob');
  });
});
