/**
 * The development signing key when workers run: the primary generates one private JWK set and hands it to
 * every worker, so all of them sign with the key the primary's JWKS publishes (a key per worker would make
 * the published set wrong for all but one).
 */
import { createPrivateKey, createPublicKey, type JsonWebKey } from 'node:crypto';
import { generateJwks, KeyRing, type SigningKey } from '../identity/keys.js';

/** A fresh development key set (Ed25519), as private JWKs to send to the workers. */
export function generateSharedJwks(): { keys: Record<string, unknown>[] } {
  return generateJwks('EdDSA');
}

/**
 * A generated key ring from {@link generateSharedJwks}' output. Built the way identity/keys.ts builds keys
 * from a file (same public JWK fields), marked `generated`.
 */
export function sharedKeyRing(jwks: { keys: Record<string, unknown>[] }): KeyRing {
  const jwk = jwks.keys[0] as JsonWebKey & { kid: string };
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const pub = createPublicKey(privateKey).export({ format: 'jwk' });
  const key: SigningKey = { kid: jwk.kid, alg: 'EdDSA', privateKey, publicJwk: Object.freeze({ ...pub, kid: jwk.kid, alg: 'EdDSA', use: 'sig' }) };
  return new KeyRing([key], key, true);
}
