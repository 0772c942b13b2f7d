/**
 * Handing a (re)loaded key ring to the minter, and logging what the rotation rules decided about it
 * (src/identity/signing-keys.ts): a deferred or early activation, keys still published after removal.
 */
import type { KeyRing } from '../identity/keys.js';
import type { IdentityMinter } from '../identity/minter.js';
import type { RotationDecision } from '../identity/signing-keys.js';
import type { Logger } from '../observability/log.js';

/**
 * Swaps in `ring` when it differs from the minter's, else re-decides the signing key (a deferred key may be
 * due, or identity.minPublishSeconds changed); undefined: the config names no keys file, the running keys stay.
 */
export function updateSigningKeys(minter: IdentityMinter, ring: KeyRing | undefined, logger: Logger): void {
  logRotation(logger, ring !== undefined && keysChanged(minter.keys, ring) ? minter.setKeys(ring) : minter.refreshKeys());
}

function logRotation(logger: Logger, d: RotationDecision): void {
  const at = (ms: number): string => new Date(ms).toISOString();
  if (d.deferred !== undefined) {
    logger.warn({ kid: d.deferred.kid, signing: d.signing, activatesAt: at(d.deferred.activatesAt) },
      'identity key published for less than identity.minPublishSeconds: the previous key keeps signing until then');
  }
  if (d.early !== undefined) {
    logger.warn({ kid: d.early.kid, safeAt: at(d.early.readyAt) },
      'identity key signs before it was published for identity.minPublishSeconds (no other key can sign): upstreams with a cached JWKS may reject it');
  }
  for (const r of d.retained) logger.info({ kid: r.kid, until: at(r.until) }, 'identity key removed from the keys file: still published until its headers expired');
}

/** Whether the key ring differs: its keys, their publication stamps or the key it wants to sign with. */
function keysChanged(a: KeyRing, b: KeyRing): boolean {
  const sig = (r: KeyRing): string => JSON.stringify([r.jwks(), r.keys.map((k) => k.publishedAt ?? null), r.active.kid]);
  return sig(a) !== sig(b);
}
