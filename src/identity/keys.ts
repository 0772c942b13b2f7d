/**
 * Signing keys for the identity header: a private JWK set (EdDSA Ed25519 or ES256 P-256), from a file or a
 * mounted Kubernetes Secret. One key signs (`activeKid`, else the first); all are published, so a new key can
 * be added, then made active, then the old one removed, without a restart and without rejecting a header in
 * flight.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type SigningAlg = 'EdDSA' | 'ES256';

export interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly privateKey: KeyObject;
  /** Public JWK as published in the JWKS. */
  readonly publicJwk: Readonly<Record<string, unknown>>;
  /**
   * When the key was first published (epoch ms): the keys file's private `published_at` member, written by
   * `trackgate keys rotate add`. Undefined: unknown (a key without it counts as published long ago).
   */
  readonly publishedAt?: number;
}

export class KeyRing {
  constructor(readonly keys: readonly SigningKey[], readonly active: SigningKey, readonly generated: boolean) {}

  /** The public JWK set (`/.well-known/jwks.json`). */
  jwks(): { keys: Readonly<Record<string, unknown>>[] } {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }
}

interface PrivateJwk { kty?: string; crv?: string; kid?: string; alg?: string; d?: string; published_at?: unknown; [k: string]: unknown }

/**
 * Private members trackgate keeps next to a key in the keys file (never published: the JWKS is built from
 * the public key alone). RFC 3339 times; see src/identity/rotate.ts for the steps that write them.
 */
export const KEY_META = { publishedAt: 'published_at', activatedAt: 'activated_at' } as const;

/** An RFC 3339 time member as epoch ms; undefined when absent; throws when present but not a time. */
export function metaTime(jwk: Record<string, unknown>, member: string, where: string): number | undefined {
  const v = jwk[member];
  if (v === undefined) return undefined;
  const ms = typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v) ? Date.parse(v) : Number.NaN;
  if (Number.isNaN(ms)) throw new Error(`${where}: key "${String(jwk.kid)}" has ${member} ${JSON.stringify(v)}, expected an RFC 3339 time such as 2026-01-31T12:00:00Z`);
  return ms;
}

function toSigningKey(jwk: PrivateJwk, where: string): SigningKey {
  if (typeof jwk.kid !== 'string' || jwk.kid === '') throw new Error(`${where}: every key needs a "kid"`);
  if (typeof jwk.d !== 'string') throw new Error(`${where}: key "${jwk.kid}" is not a private key (no "d")`);
  let alg: SigningAlg;
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') alg = 'EdDSA';
  else if (jwk.kty === 'EC' && jwk.crv === 'P-256') alg = 'ES256';
  else throw new Error(`${where}: key "${jwk.kid}" must be OKP/Ed25519 (EdDSA) or EC/P-256 (ES256)`);
  if (jwk.alg !== undefined && jwk.alg !== alg) throw new Error(`${where}: key "${jwk.kid}" has alg ${String(jwk.alg)}, expected ${alg}`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
  } catch (err) {
    throw new Error(`${where}: key "${jwk.kid}" cannot be imported: ${(err as Error).message}`);
  }
  const pub = createPublicKey(privateKey).export({ format: 'jwk' });
  const publishedAt = metaTime(jwk, KEY_META.publishedAt, where);
  metaTime(jwk, KEY_META.activatedAt, where);
  return {
    kid: jwk.kid, alg, privateKey, publicJwk: Object.freeze({ ...pub, kid: jwk.kid, alg, use: 'sig' }),
    ...(publishedAt !== undefined ? { publishedAt } : {}),
  };
}

/** Reads a private JWK set file; throws with the file and the problem. */
export function loadKeyRing(file: string, activeKid?: string): KeyRing {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: cannot read a JWK set: ${(err as Error).message}`);
  }
  const list = (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(list) || list.length === 0) throw new Error(`${file}: must be a JWK set {"keys": [...]} with at least one key`);
  const keys = list.map((j, i) => toSigningKey(j as PrivateJwk, `${file} keys[${i}]`));
  const kids = new Set(keys.map((k) => k.kid));
  if (kids.size !== keys.length) throw new Error(`${file}: duplicate kid`);
  const active = activeKid === undefined ? keys[0]! : keys.find((k) => k.kid === activeKid);
  if (!active) throw new Error(`${file}: activeKid "${activeKid}" is not in the set`);
  return new KeyRing(keys, active, false);
}

/** A fresh private JWK set, for `trackgate keys generate` and development. */
export function generateJwks(alg: SigningAlg = 'EdDSA'): { keys: Record<string, unknown>[] } {
  return { keys: [generateJwk(alg)] };
}

/** One fresh private JWK; `publishedAt` (epoch ms) is recorded as its `published_at` member when given. */
export function generateJwk(alg: SigningAlg = 'EdDSA', publishedAt?: number): Record<string, unknown> {
  const pair = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `${new Date(publishedAt ?? Date.now()).toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`;
  return {
    ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig',
    ...(publishedAt !== undefined ? { [KEY_META.publishedAt]: new Date(publishedAt).toISOString() } : {}),
  };
}

/** A development-only key ring, generated in memory. */
export function generatedKeyRing(): KeyRing {
  const jwk = generateJwks('EdDSA').keys[0] as PrivateJwk;
  const key = toSigningKey(jwk, 'generated');
  return new KeyRing([key], key, true);
}
