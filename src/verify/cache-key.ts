/**
 * Keyed digests of credentials: the validation cache's keys and the fingerprints in logs, computed on every
 * request. SHA-256 of a 256-bit secret sub-key followed by the length-prefixed parts, so no raw secret is
 * held, nobody without the key can compute or test a digest, and no two different part lists can collide
 * by concatenation ("ab"+"c" vs "a"+"bc").
 *
 * A secret-prefix hash rather than HMAC (why it is cheaper: docs/performance-notes.md#cache-keys-hashed-without-hmac):
 * HMAC's extra structure protects a MAC that an attacker sees from length extension; these digests
 * authenticate nothing and never leave the process except as a 96-bit prefix in logs.
 */
import { createHmac, hash } from 'node:crypto';

export class CredentialDigester {
  readonly #prefix: string;

  constructor(secret: Buffer) {
    // A sub-key, so the shared secret itself is never used directly for two purposes; fixed length (43
    // base64url characters), so the message boundary is unambiguous.
    this.#prefix = createHmac('sha256', secret).update('trackgate/credential-digest/v2').digest('base64url');
  }

  /** Cache key for a credential's identifying parts. */
  digest(scheme: string, parts: readonly string[]): string {
    let msg = this.#prefix + lengthPrefixed(scheme);
    for (const p of parts) msg += lengthPrefixed(p);
    return hash('sha256', msg, 'base64url');
  }
}

function lengthPrefixed(s: string): string {
  return `${Buffer.byteLength(s, 'utf8')}:${s}`;
}

/** A short correlatable fingerprint of a cache key, safe for logs. */
export function fingerprint(cacheKey: string): string {
  return cacheKey.slice(0, 16);
}
