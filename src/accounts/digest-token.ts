/**
 * Lookup digests for high-entropy secrets that must be found by value (web-service keys, device tokens):
 * `sha256:<hex>`. Unsalted on purpose, so the secret can be looked up; such secrets must be random, not
 * chosen by people (passwords use {@link ./password.ts}).
 */
import { createHash } from 'node:crypto';

export function lookupDigest(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

export const LOOKUP_DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
