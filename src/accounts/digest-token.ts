/**
 * Lookup digests for high-entropy secrets that must be found by value (web-service keys, device tokens):
 * `sha256:<hex>`. Unsalted on purpose, so the secret can be looked up; such secrets must be random, not
 * chosen by people (passwords use {@link ./password.ts}).
 */
import { createHash } from 'node:crypto';

/** What every lookup digest starts with; the rest is 64 hex digits. */
export const LOOKUP_DIGEST_PREFIX = 'sha256:';

export function lookupDigest(secret: string): string {
  return `${LOOKUP_DIGEST_PREFIX}${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

export const LOOKUP_DIGEST_RE = new RegExp(`^${LOOKUP_DIGEST_PREFIX}[0-9a-f]{64}$`);
