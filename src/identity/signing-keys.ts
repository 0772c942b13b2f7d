/**
 * Which key signs now, and which public keys are published: the safety rules of signing-key rotation.
 *
 * Upstreams cache the JWKS (jose's `createRemoteJWKSet`: 10 min, and it refetches on an unknown `kid` at most
 * once per 30 s), so a header signed with a key published a moment ago is rejected. Hence:
 * - a key signs only once it has been published for `minPublishMs`. Published means the later of its keys-file
 *   `published_at` stamp (shared by every replica and restart) and, when it appeared in a reload of this
 *   process, that reload (a stamp written long before the file was deployed proves nothing). Until then the key
 *   that signed before keeps signing, and the switch happens by itself at the first signature after the time;
 * - a key removed from the file stays published for `retainMs` (the header lifetime plus clock skew), so no
 *   header it signed stops verifying before it expires.
 */
import type { KeyRing, SigningKey } from './keys.js';

/** Clock skew allowed for beyond a header's lifetime before a removed key stops being published. */
export const RETAIN_SKEW_SECONDS = 60;

export interface RotationPolicy {
  /** How long a key must have been published before it signs. */
  minPublishMs: number;
  /** How long a removed key stays published. */
  retainMs: number;
}

/** What a key-ring update decided, for the reload's log line. */
export interface RotationDecision {
  /** The key that signs now. */
  signing: string;
  /** The key the file asks for (`identity.activeKid`, else the first), when it cannot sign yet. */
  deferred?: { kid: string; activatesAt: number };
  /** No key of the file was published long enough: this one signs anyway (upstreams may reject it until `readyAt`). */
  early?: { kid: string; readyAt: number };
  /** Keys removed from the file, still published until `until`. */
  retained: { kid: string; until: number }[];
}

type Jwk = Readonly<Record<string, unknown>>;

export class SigningKeys {
  #ring: KeyRing;
  #signer: SigningKey;
  #pending: { key: SigningKey; at: number } | undefined;
  /** Keys that appeared in a reload of this process: when. */
  readonly #seen = new Map<string, number>();
  #retained: { jwk: Jwk; kid: string; until: number }[] = [];
  /**
   * The retention in force since the last update or refresh, and the latest time a header signed before then
   * may still verify: a reload swaps its config in before the keys are updated, so the policy read at removal
   * gives the *new* header lifetime, while headers already signed carry the old one.
   */
  #retainMs: number;
  #signedValidUntil = Number.NEGATIVE_INFINITY;

  constructor(ring: KeyRing, private readonly policy: () => RotationPolicy, private readonly now: () => number = Date.now) {
    this.#ring = ring;
    this.#retainMs = policy().retainMs;
    this.#signer = ring.active;
    this.#decide(undefined);
  }

  get ring(): KeyRing { return this.#ring; }

  /** The key to sign with now (a deferred key once its time has come). Called per signature: allocates nothing. */
  signer(): SigningKey {
    const p = this.#pending;
    if (p !== undefined && this.now() >= p.at) {
      this.#signer = p.key;
      this.#pending = undefined;
    }
    return this.#signer;
  }

  /** Takes a new key ring from the file (a reload). */
  update(ring: KeyRing): RotationDecision {
    const now = this.now();
    // Retained past every header signed so far (under any earlier lifetime) and for the new lifetime.
    const until = Math.max(this.#observeRetention(now), now + this.#retainMs);
    const kids = new Set(ring.keys.map((k) => k.kid));
    for (const k of this.#ring.keys) {
      if (!kids.has(k.kid)) this.#retained.push({ jwk: k.publicJwk, kid: k.kid, until });
    }
    // A key back in the file is published by it again.
    this.#retained = this.#retained.filter((r) => !kids.has(r.kid) && r.until > now);
    const before = new Set(this.#ring.keys.map((k) => k.kid));
    for (const k of ring.keys) if (!before.has(k.kid)) this.#seen.set(k.kid, now);
    for (const kid of this.#seen.keys()) if (!kids.has(kid)) this.#seen.delete(kid);
    const previous = this.#signer;
    this.#ring = ring;
    return this.#decide(previous);
  }

  /** Decides again with the current policy (a reload that changed only `identity.*` options). */
  refresh(): RotationDecision {
    this.#observeRetention(this.now());
    return this.#decide(this.#signer);
  }

  /**
   * Closes the interval since the last update or refresh: headers signed in it verify until at most `now` plus
   * the retention then in force. Takes the current retention for the next interval; returns the horizon so far.
   */
  #observeRetention(now: number): number {
    this.#signedValidUntil = Math.max(this.#signedValidUntil, now + this.#retainMs);
    this.#retainMs = this.policy().retainMs;
    return this.#signedValidUntil;
  }

  /** The public JWK set: every key of the file, then the removed keys still retained. */
  jwks(): { keys: Jwk[] } {
    const now = this.now();
    return { keys: [...this.#ring.keys.map((k) => k.publicJwk), ...this.#retained.filter((r) => r.until > now).map((r) => r.jwk)] };
  }

  /** When `key` may sign: published long enough. */
  readyAt(key: SigningKey): number {
    const published = Math.max(key.publishedAt ?? Number.NEGATIVE_INFINITY, this.#seen.get(key.kid) ?? Number.NEGATIVE_INFINITY);
    return published + this.policy().minPublishMs;
  }

  #decide(previous: SigningKey | undefined): RotationDecision {
    const now = this.now();
    const wanted = this.#ring.active;
    const at = this.readyAt(wanted);
    this.#pending = undefined;
    if (at <= now) {
      this.#signer = wanted;
    } else {
      // Keep the key that signed (if still in the file), else any key of the file published long enough.
      const stillThere = previous === undefined ? undefined : this.#ring.keys.find((k) => k.kid === previous.kid);
      const fallback = stillThere !== undefined && this.readyAt(stillThere) <= now ? stillThere
        : this.#ring.keys.find((k) => k !== wanted && this.readyAt(k) <= now);
      // Nothing safe to sign with: the wanted key signs now (the reload's warning says so).
      this.#signer = fallback ?? wanted;
      if (fallback !== undefined) this.#pending = { key: wanted, at };
    }
    const retained = this.#retained.filter((r) => r.until > now).map(({ kid, until }) => ({ kid, until }));
    return {
      signing: this.#signer.kid,
      ...(this.#signer !== wanted ? { deferred: { kid: wanted.kid, activatesAt: at } } : {}),
      ...(this.#signer === wanted && at > now ? { early: { kid: wanted.kid, readyAt: at } } : {}),
      retained,
    };
  }
}
