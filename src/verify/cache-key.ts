/**
 * Keyed digests of credentials: the validation cache's keys and the fingerprints in logs. HMAC-SHA256 over
 * length-prefixed parts, so no raw secret is held and no two different part lists can collide by
 * concatenation ("ab"+"c" vs "a"+"bc").
 */
import { createHmac } from 'node:crypto';

export class CredentialDigester {
  readonly #key: Buffer;

  constructor(secret: Buffer) {
    // A sub-key, so the shared secret itself is never used directly for two purposes.
    this.#key = createHmac('sha256', secret).update('trackgate/credential-digest/v1').digest();
  }

  /** Cache key for a credential's identifying parts. */
  digest(scheme: string, parts: readonly string[]): string {
    const h = createHmac('sha256', this.#key);
    h.update(lengthPrefixed(scheme));
    for (const p of parts) h.update(lengthPrefixed(p));
    return h.digest('base64url');
  }
}

function lengthPrefixed(s: string): string {
  return `${Buffer.byteLength(s, 'utf8')}:${s}`;
}

/** A short correlatable fingerprint of a cache key, safe for logs. */
export function fingerprint(cacheKey: string): string {
  return cacheKey.slice(0, 16);
}
