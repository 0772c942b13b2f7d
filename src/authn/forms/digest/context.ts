/** What the Digest checks and challenges share, built once per config version by `create`. */
import { randomBytes } from 'node:crypto';
import type { AccountDirectory } from '../../../accounts/directory.js';
import { MemoryNonceCounterStore, type NonceCounterStore } from '../../../store/digest-nonce-counter.js';
import { DIGEST_HASHES, HEX_LENGTH, type DigestHash } from '../../digest-hash.js';
import { DigestNonces } from '../../digest-nonce.js';
import type { AuthnDeps } from '../../types.js';
import type { DigestOptions } from './options.js';

export interface DigestContext {
  readonly options: DigestOptions;
  readonly deps: AuthnDeps;
  readonly nonces: DigestNonces;
  /** The `nc` replay store. */
  readonly counters: NonceCounterStore;
  readonly ttlMs: number;
  readonly algorithms: ReadonlySet<string>;
  readonly qops: ReadonlySet<string>;
  /** Dummy HA1s: an unknown user costs the same hashing as a known one. */
  readonly dummy: Readonly<Record<DigestHash, string>>;
  /** Whether some user of the running accounts file has Digest material (HA1s) for the realm. */
  hasMaterial(): boolean;
}

export function digestContext(options: DigestOptions, deps: AuthnDeps): DigestContext {
  return {
    options,
    deps,
    nonces: new DigestNonces(deps.sharedSecret, options.realm),
    counters: counterStoreFor(deps, options.maxTrackedNonces),
    ttlMs: options.nonceTtlSeconds * 1000,
    algorithms: new Set(options.algorithms),
    qops: new Set(options.qop),
    dummy: Object.fromEntries(DIGEST_HASHES.map((h) => [h, randomBytes(HEX_LENGTH[h] / 2).toString('hex')])) as Record<DigestHash, string>,
    hasMaterial: materialCheck(deps, options.realm),
  };
}

/**
 * One `nc` store per app, kept across config reloads (the deps object lives as long as the app), so a
 * reload does not forget which counts were used. A changed `maxTrackedNonces` starts a new store, which
 * answers nonces issued before it `stale` (fail closed).
 */
const counterStores = new WeakMap<AuthnDeps, { maxNonces: number; store: NonceCounterStore }>();
function counterStoreFor(deps: AuthnDeps, maxNonces: number): NonceCounterStore {
  if (deps.nonceCounter !== undefined) return deps.nonceCounter; // shared by cluster workers (src/cluster/)
  const prev = counterStores.get(deps);
  if (prev !== undefined && prev.maxNonces === maxNonces) return prev.store;
  const store = new MemoryNonceCounterStore({ maxNonces, now: () => deps.now() });
  counterStores.set(deps, { maxNonces, store });
  return store;
}

/** Answered once per accounts file (a reload brings a new directory). */
function materialCheck(deps: AuthnDeps, realm: string): () => boolean {
  const known = new WeakMap<AccountDirectory, boolean>();
  return () => {
    const dir = deps.accounts();
    let v = known.get(dir);
    if (v === undefined) {
      v = dir.file.users.some((u) => u.digest?.realm === realm);
      known.set(dir, v);
    }
    return v;
  };
}
