/** The bounded string pool that cached identities share account and instance names through. */
import { describe, expect, it } from 'vitest';
import { StringPool } from '../../src/verify/string-pool.js';

describe('StringPool', () => {
  it('hands back an equal string and remembers each distinct value once', () => {
    const pool = new StringPool(10);
    const a = ['fleet', '1'].join('-');
    expect(pool.intern(a)).toBe('fleet-1');
    expect(pool.intern(['fleet', '1'].join('-'))).toBe('fleet-1');
    expect(pool.size).toBe(1);
    pool.intern('fleet-2');
    expect(pool.size).toBe(2);
  });

  it('never holds more than its bound: past it, it starts over', () => {
    const pool = new StringPool(3);
    for (let i = 0; i < 1000; i++) {
      expect(pool.intern(`account-${i}`)).toBe(`account-${i}`);
      expect(pool.size).toBeLessThanOrEqual(3);
    }
  });
});
