/**
 * docs/errors.md and src/errors.ts stay in step, both ways (as fastify's errors test does): every code in
 * ERROR_CODES has a row with its status, every `TG_ERR_*` the doc names exists, and every auth `reason`
 * label is documented.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, type AuthReason } from '../src/errors.js';

const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');

/** Every AuthReason; the two type checks below fail compilation when this list and the type differ. */
const REASONS = ['ok', 'no_credentials', 'malformed', 'invalid', 'expired', 'stale', 'ambiguous', 'forbidden', 'throttled', 'unavailable', 'denied'] as const;
type Listed = (typeof REASONS)[number];
const _allListed: [AuthReason] extends [Listed] ? true : never = true;
const _noExtra: [Listed] extends [AuthReason] ? true : never = true;
void _allListed; void _noExtra;

/** Rows of the codes table: code → status. */
function codeRows(): Map<string, number> {
  const rows = new Map<string, number>();
  for (const m of doc.matchAll(/^\| `(TG_ERR_[A-Z0-9_]+)` \| (\d{3}) \|/gm)) {
    expect(rows.has(m[1]!), `${m[1]} has two rows`).toBe(false);
    rows.set(m[1]!, Number(m[2]));
  }
  return rows;
}

describe('docs/errors.md', () => {
  it('has one row per code in ERROR_CODES, with its status', () => {
    const rows = codeRows();
    for (const [code, status] of Object.entries(ERROR_CODES)) {
      expect(rows.get(code), `${code} missing from docs/errors.md`).toBe(status);
    }
  });

  it('names no code that does not exist', () => {
    for (const [code] of doc.matchAll(/TG_ERR_[A-Z0-9_]+/g)) {
      expect(Object.keys(ERROR_CODES), `${code} is in docs/errors.md but not in ERROR_CODES`).toContain(code);
    }
    expect(codeRows().size).toBe(Object.keys(ERROR_CODES).length);
  });

  it('documents every auth reason label, and no other', () => {
    const documented = [...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...REASONS].sort());
  });

  it('every code is TG_ERR_ + UPPER_SNAKE and maps to an HTTP error status', () => {
    for (const [code, status] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^TG_ERR_[A-Z0-9]+(_[A-Z0-9]+)*$/);
      expect(status >= 400 && status < 600).toBe(true);
    }
  });
});
