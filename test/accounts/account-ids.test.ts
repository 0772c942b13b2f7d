/** A user's `accounts`: names, or `{name, id}` with the integer id the fleet login's `account_id` selects by. */
import { describe, expect, it } from 'vitest';
import { userSchema } from '../../src/accounts/schema.js';

describe('accounts entries', () => {
  it('names stay names; {name, id} entries give their name and an id → name map', () => {
    const u = userSchema.parse({ username: 'u', accounts: ['north', { name: 'south', id: 7 }] });
    expect(u.accounts).toEqual(['north', 'south']);
    expect(u.accountIds?.get(7)).toBe('south');
    expect(userSchema.parse({ username: 'u', accounts: ['north'] }).accountIds).toBeUndefined();
  });

  it.each([
    ['an id given twice', [{ name: 'a', id: 1 }, { name: 'b', id: 1 }]],
    ['an id that is another account\'s name', ['1', { name: 'b', id: 1 }]],
    ['a fractional id', [{ name: 'a', id: 1.5 }]],
    ['a negative id', [{ name: 'a', id: -1 }]],
    ['an unknown key', [{ name: 'a', id: 1, extra: true }]],
  ])('refuses %s', (_name, accounts) => {
    expect(userSchema.safeParse({ username: 'u', accounts }).success).toBe(false);
  });
});
