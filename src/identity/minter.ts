/**
 * Mints the signed identity header: a compact JWS (RFC 7515) signed with `node:crypto` directly.
 * Why not jose: docs/performance-notes.md#identity-headers-signed-without-jose
 *
 * Signing dominates the cost of a request, so a header is minted once per identity and reused until a quarter
 * of its lifetime is left. The cache is keyed by the identity's claims, not by credential, so every credential
 * of one user shares one header; a bounded LRU of `cacheEntries` keeps its memory independent of the validation
 * cache's. With `bindToRequest`, each request gets its own header carrying `htm`/`htu`.
 */
import { randomBytes, sign } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Identity } from './identity.js';
import type { KeyRing, SigningKey } from './keys.js';
import { RETAIN_SKEW_SECONDS, SigningKeys, type RotationDecision } from './signing-keys.js';

export interface MinterOptions {
  issuer: string;
  audience: string;
  ttlSeconds: number;
  bindToRequest: boolean;
  /** Most minted headers kept for reuse (least recently used dropped first). */
  cacheEntries: number;
  /** A new key signs only once published this long (src/identity/signing-keys.ts); default 0. */
  minPublishSeconds?: number;
}

/** The claims of an identity header. Documented for upstream teams in docs/identity-header.md. */
export interface IdentityClaims {
  iss: string;
  aud: string;
  sub: string;
  iat: number;
  exp: number;
  jti: string;
  scheme: string;
  kind: string;
  account?: string;
  instance?: string;
  /** RFC 8693 actor: the user acting (a fleet masquerade), when the identity has one. */
  act?: { sub: string };
  /** Request-bound mode only: the HTTP method. */
  htm?: string;
  /** Request-bound mode only: the request path (without query). */
  htu?: string;
}

interface Minted { readonly value: string; readonly refreshAt: number; readonly kid: string }

export class IdentityMinter {
  #cache: LRUCache<string, Minted> | undefined;
  readonly #keys: SigningKeys;
  #signer: SigningKey;
  #protectedB64: string;
  readonly #options: () => MinterOptions;
  /** The options the cached headers were minted with: another object (a reload) drops them. */
  #cachedWith: MinterOptions;
  /** Signatures made (for metrics). */
  mints = 0;

  constructor(
    keys: KeyRing,
    /** A getter is read at every mint (hot reload); fixed options: tests. */
    options: MinterOptions | (() => MinterOptions),
    private readonly now: () => number = Date.now,
    /** Called once per signature (feeds `trackgate_identity_mints_total`). */
    private readonly onMint: () => void = () => undefined,
    /** Called when a deferred key starts signing (src/identity/signing-keys.ts). */
    private readonly onSignerChange: (kid: string) => void = () => undefined,
  ) {
    this.#options = typeof options === 'function' ? options : () => options;
    this.#cachedWith = this.#options();
    this.#keys = new SigningKeys(keys, () => {
      const o = this.#options();
      return { minPublishMs: (o.minPublishSeconds ?? 0) * 1000, retainMs: (o.ttlSeconds + RETAIN_SKEW_SECONDS) * 1000 };
    }, now);
    this.#signer = this.#keys.signer();
    this.#protectedB64 = protectedHeader(this.#signer);
    this.#cache = newCache(this.#cachedWith.cacheEntries);
  }

  get options(): MinterOptions { return this.#options(); }

  /**
   * Takes the key ring from the file (rotation): the key it asks for signs once published long enough, a
   * removed key stays published until its headers expired. Headers cached with another key are re-minted.
   */
  setKeys(keys: KeyRing): RotationDecision {
    const decision = this.#keys.update(keys);
    this.#useSigner(this.#keys.signer());
    return decision;
  }

  /** Decides the signing key again with the running options (a reload changed `identity.*`). */
  refreshKeys(): RotationDecision {
    const decision = this.#keys.refresh();
    this.#useSigner(this.#keys.signer());
    return decision;
  }

  /** The key ring of the file. */
  get keys(): KeyRing { return this.#keys.ring; }
  /** The kid that signs now. */
  get signingKid(): string { return this.#signer.kid; }
  /** What `/.well-known/jwks.json` publishes: the file's keys and removed keys still retained. */
  jwks(): { keys: Readonly<Record<string, unknown>>[] } { return this.#keys.jwks(); }

  #useSigner(key: SigningKey): void {
    if (key === this.#signer) return;
    this.#signer = key;
    this.#protectedB64 = protectedHeader(key);
    this.#cache?.clear();
  }

  /** The running options; a change (reload) drops the cached headers, minted with the old ones. */
  #current(): MinterOptions {
    const o = this.#options();
    if (o !== this.#cachedWith) {
      const was = this.#cachedWith;
      if (o.cacheEntries !== was.cacheEntries) this.#cache = newCache(o.cacheEntries);
      else if (o.issuer !== was.issuer || o.audience !== was.audience || o.ttlSeconds !== was.ttlSeconds) this.#cache?.clear();
      this.#cachedWith = o;
    }
    const key = this.#keys.signer();
    if (key !== this.#signer) { this.#useSigner(key); this.onSignerChange(key.kid); }
    return o;
  }

  /** The header value for `identity` (and, in request-bound mode, for this method and path). */
  mint(identity: Identity, method: string, path: string): string {
    return this.mintEntry(identity, method, path).value;
  }

  /**
   * The header and when it stops being reused (epoch ms; a quarter of its life is then left): decision mode
   * lets an edge cache a header no longer than that.
   */
  mintEntry(identity: Identity, method: string, path: string): { readonly value: string; readonly refreshAt: number } {
    const now = this.now();
    const options = this.#current();
    if (options.bindToRequest) return this.#sign(identity, now, method, path);
    if (this.#cache === undefined) return this.#sign(identity, now);
    const key = claimsKey(identity);
    const cached = this.#cache.get(key);
    if (cached !== undefined && now < cached.refreshAt) return cached;
    const minted = this.#sign(identity, now);
    this.#cache.set(key, minted);
    return minted;
  }

  /**
   * Signs arbitrary claims with the active key (`typ` distinguishes them from identity headers: access
   * tokens use `at+jwt`, RFC 9068, so an upstream that checks `typ`/`aud` never takes one for an identity).
   */
  signJwt(claims: Record<string, unknown>, typ: string): string {
    this.#current();
    const key = this.#signer;
    const header = Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ })).toString('base64url');
    const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    return `${input}.${this.#signature(input).toString('base64url')}`;
  }

  #signature(input: string): Buffer {
    const key = this.#signer;
    return key.alg === 'EdDSA'
      ? sign(null, Buffer.from(input), key.privateKey)
      : sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' });
  }

  #sign(identity: Identity, nowMs: number, htm?: string, htu?: string): Minted {
    const iat = Math.floor(nowMs / 1000);
    const options = this.#cachedWith;
    let exp = iat + options.ttlSeconds;
    if (identity.expiresAt !== undefined) exp = Math.max(iat + 1, Math.min(exp, Math.floor(identity.expiresAt / 1000)));
    const claims: IdentityClaims = {
      iss: options.issuer,
      aud: options.audience,
      sub: identity.subject,
      iat,
      exp,
      jti: randomBytes(12).toString('base64url'),
      scheme: identity.scheme,
      kind: identity.kind,
    };
    if (identity.account !== undefined) claims.account = identity.account;
    if (identity.instance !== undefined) claims.instance = identity.instance;
    if (identity.actor !== undefined) claims.act = { sub: identity.actor };
    if (htm !== undefined) { claims.htm = htm; claims.htu = htu!; }
    const input = `${this.#protectedB64}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const key = this.#signer;
    const sig = this.#signature(input);
    this.mints++;
    this.onMint();
    // Re-mint when a quarter of the lifetime is left, so an upstream never receives a nearly expired header.
    const refreshAt = nowMs + (exp - iat) * 750;
    return { value: `${input}.${sig.toString('base64url')}`, refreshAt, kid: key.kid };
  }
}

/**
 * Everything of an identity that shapes its header (the credential's expiry caps `exp`). Free-form parts are
 * length-prefixed, so distinct identities never share a key whatever characters they contain.
 * Why `join`: docs/performance-notes.md#identity-header-cache-keys-as-one-flat-string
 */
function claimsKey(id: Identity): string {
  const account = id.account ?? '';
  const instance = id.instance ?? '';
  const actor = id.actor === undefined ? -1 : id.actor.length;
  const exp = id.expiresAt === undefined ? '' : Math.floor(id.expiresAt / 1000);
  return [id.scheme, id.kind, exp, id.subject.length, id.subject, account.length, account, instance.length, instance, actor, id.actor ?? ''].join(' ');
}

function protectedHeader(key: SigningKey): string {
  return Buffer.from(JSON.stringify({ alg: key.alg, kid: key.kid, typ: 'JWT' })).toString('base64url');
}

function newCache(entries: number): LRUCache<string, Minted> | undefined {
  return entries > 0 ? new LRUCache({ max: entries }) : undefined;
}
