/**
 * Verification of JWT access tokens minted by an outside identity provider, against that provider's JWKS.
 *
 * Trust comes only from the config: a token is checked against the issuer whose `issuer` equals its `iss`
 * (read without trust, only to choose among configured issuers), with that issuer's own algorithm allow-list,
 * audience, JWKS URL and `typ` allow-list.
 *
 * Only access tokens pass: the `typ` header must be one of the issuer's `tokenTypes` (absent only with
 * `allowUntyped`), and a token typed as something else (refresh, ID, logout…, in the header or in a
 * Keycloak-style `typ` claim) is refused whatever the configuration says. Key-locating headers (`jku`, `x5u`,
 * `jwk`, `x5c`) are never used: keys come only from the JWKS this module fetches itself.
 *
 * JWKS caching policy (per JWKS URL):
 * - fetched on first use; a response must be 200, JSON, at most `maxBytes`, at most {@link MAX_KEYS} keys;
 *   symmetric (`oct`) and private keys are dropped, so an HS* token can never find a key;
 * - refreshed in the background once older than `cacheSeconds` (the old set keeps verifying meanwhile and
 *   stays in use while the endpoint is down);
 * - a token naming a `kid` the set does not have triggers one refetch, at most once per `cooldownSeconds`
 *   (a flood of random kids costs one fetch per window); still unknown → 401;
 * - all fetches for one URL are single-flight; a failed fetch is not retried for `min(cooldown, 5 s)`;
 *   with no set at all, a failed fetch is 503 `unavailable` (not cached).
 */
import { Agent, request, type Dispatcher } from 'undici';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type CryptoKey as JoseCryptoKey, type JSONWebKeySet, type JWK, type JWTPayload, type LocalJWKSet } from 'jose';
import { TrackgateError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { Identity, IdentityKind } from '../identity/identity.js';
import { describeError, readLimited, sourcePoolOptions, sourceUnavailable } from './http-source.js';

/** Asymmetric JWS algorithms an issuer may allow. HS* and `none` are not representable. */
export const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
export type AsymmetricAlg = (typeof ASYMMETRIC_ALGS)[number];

/** Most keys kept from one JWKS document. */
export const MAX_KEYS = 64;
/** Longest subject accepted from a claim. */
const MAX_SUBJECT = 256;
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
const JWS_COMPACT_RE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/**
 * `typ` values (normalised) of JWTs that are not access tokens: refresh and ID tokens (and Keycloak's `typ`
 * claim spellings of them), OIDC logout tokens, RFC 8417 security events, RFC 9449 DPoP proofs, RFC 9701
 * introspection responses, RFC 9101 request objects, client assertions, federation statements, SD-JWT key
 * binding and verifiable credentials.
 */
export const NON_ACCESS_TYPES: ReadonlySet<string> = new Set([
  'refresh', 'refresh+jwt', 'rt+jwt', 'offline', 'id', 'id_token', 'id-token', 'idtoken', 'id+jwt', 'id_token+jwt',
  'logout', 'logout+jwt', 'secevent+jwt', 'dpop+jwt', 'token-introspection+jwt', 'oauth-authz-req+jwt',
  'client-authentication+jwt', 'entity-statement+jwt', 'trust-mark+jwt', 'kb+jwt', 'vc+jwt', 'vp+jwt', 'vc+sd-jwt',
  'dc+sd-jwt',
]);

/** A `typ` value in comparable form (RFC 7515 §4.1.9): lower case, without `application/`. */
export function normaliseTyp(typ: string): string {
  const t = typ.toLowerCase();
  return t.startsWith('application/') ? t.slice('application/'.length) : t;
}

/** Private-key members of RSA/EC/OKP JWKs (RFC 7518 §6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** One configured issuer (the `authn.bearer.external.issuers[]` item). */
export interface ExternalIssuer {
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly audience: string | readonly string[];
  readonly algorithms: readonly AsymmetricAlg[];
  readonly clockToleranceSeconds: number;
  readonly subjectClaim: string;
  readonly subjectPrefix: string;
  readonly kind: IdentityKind;
  readonly accountClaim?: string | undefined;
  readonly requiredScopes: readonly string[];
  readonly requireExpiry: boolean;
  /** Accepted `typ` header values (none of {@link NON_ACCESS_TYPES}). */
  readonly tokenTypes: readonly string[];
  /** Whether a token without a `typ` header is accepted. */
  readonly allowUntyped: boolean;
}

export interface JwksFetchOptions {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly cacheSeconds: number;
  readonly cooldownSeconds: number;
}

/** A verified token: the identity, and the scopes it lacks (empty when it has all the issuer requires). */
export interface VerifiedToken {
  readonly identity: Identity;
  readonly missingScopes: readonly string[];
}

interface Loaded { readonly keys: LocalJWKSet; readonly fetchedAt: number }

/** The cached JWKS of one URL (see the module comment for the policy). */
export class JwksSource {
  #loaded: Loaded | undefined;
  #inflight: Promise<Loaded> | undefined;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #retryAfter = Number.NEGATIVE_INFINITY;
  /** Fetch attempts made (for tests and logs). */
  fetches = 0;

  constructor(
    readonly url: string,
    private readonly opts: JwksFetchOptions,
    private readonly dispatcher: Dispatcher,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  /** The current key set, fetching it when there is none; starts a background refresh when it is old. */
  async keys(): Promise<LocalJWKSet> {
    const loaded = this.#loaded;
    if (loaded === undefined) {
      if (this.#inflight === undefined && this.now() < this.#retryAfter) throw sourceUnavailable('JWKS', `${this.url}: last fetch failed; retrying shortly`);
      return (await this.#fetch()).keys;
    }
    if (this.now() - loaded.fetchedAt > this.opts.cacheSeconds * 1000 && this.#mayFetch()) {
      this.#fetch().catch(() => undefined); // logged in #fetch; the old set keeps verifying
    }
    return loaded.keys;
  }

  /**
   * A token named a key the set lacks: refetch once (joining a fetch in flight), unless one happened within
   * the cooldown. Returns the new set, or undefined when cooling down.
   */
  async refreshForUnknownKey(): Promise<LocalJWKSet | undefined> {
    if (this.#inflight !== undefined) return (await this.#inflight).keys;
    if (this.now() - this.#lastAttempt < this.opts.cooldownSeconds * 1000) return undefined;
    if (this.now() < this.#retryAfter) return undefined;
    return (await this.#fetch()).keys;
  }

  #mayFetch(): boolean {
    const now = this.now();
    return this.#inflight === undefined && now - this.#lastAttempt >= this.opts.cooldownSeconds * 1000 && now >= this.#retryAfter;
  }

  #fetch(): Promise<Loaded> {
    if (this.#inflight !== undefined) return this.#inflight;
    this.#lastAttempt = this.now();
    this.fetches++;
    const p = this.#load().then(
      (loaded) => { this.#loaded = loaded; return loaded; },
      (err: unknown) => {
        this.#retryAfter = this.now() + Math.min(this.opts.cooldownSeconds * 1000, 5000);
        const e = err instanceof TrackgateError ? err : sourceUnavailable('JWKS', `${this.url}: ${describeError(err)}`, err);
        this.logger.warn({ jwks: this.url, detail: e.detail, keptPrevious: this.#loaded !== undefined }, 'JWKS fetch failed');
        throw e;
      },
    ).finally(() => { this.#inflight = undefined; });
    this.#inflight = p;
    return p;
  }

  async #load(): Promise<Loaded> {
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    const res = await request(this.url, {
      dispatcher: this.dispatcher, method: 'GET', signal,
      headers: { accept: 'application/jwk-set+json, application/json' },
      headersTimeout: this.opts.timeoutMs, bodyTimeout: this.opts.timeoutMs,
    });
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      throw sourceUnavailable('JWKS', `${this.url}: HTTP ${res.statusCode}`);
    }
    const raw = await readLimited(res.body, this.opts.maxBytes, res.headers['content-length']);
    let doc: unknown;
    try {
      doc = JSON.parse(raw.toString('utf8'));
    } catch {
      throw sourceUnavailable('JWKS', `${this.url}: not JSON`);
    }
    const keys = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw sourceUnavailable('JWKS', `${this.url}: no "keys" array`);
    const usable = keys.filter(isPublicSigningJwk).slice(0, MAX_KEYS);
    if (usable.length < keys.length) this.logger.warn({ jwks: this.url, dropped: keys.length - usable.length }, 'JWKS keys ignored (symmetric, private, malformed or over the limit)');
    return { keys: createLocalJWKSet({ keys: usable } satisfies JSONWebKeySet), fetchedAt: this.now() };
  }
}

function isPublicSigningJwk(k: unknown): k is JWK {
  if (typeof k !== 'object' || k === null || Array.isArray(k)) return false;
  const jwk = k as Record<string, unknown>;
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC' && jwk.kty !== 'OKP') return false;
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') return false;
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  return PRIVATE_MEMBERS.every((m) => jwk[m] === undefined);
}

/** Verifies JWTs of the configured issuers. */
export class ExternalJwtVerifier {
  readonly #issuers = new Map<string, { readonly cfg: ExternalIssuer; readonly jwks: JwksSource; readonly types: ReadonlySet<string> }>();
  readonly #dispatcher: Agent;

  constructor(
    issuers: readonly ExternalIssuer[],
    fetchOpts: JwksFetchOptions,
    private readonly scheme: string,
    logger: Logger,
    private readonly now: () => number,
  ) {
    this.#dispatcher = new Agent(sourcePoolOptions(4, fetchOpts.timeoutMs));
    const sources = new Map<string, JwksSource>();
    for (const cfg of issuers) {
      let jwks = sources.get(cfg.jwksUrl);
      if (jwks === undefined) {
        jwks = new JwksSource(cfg.jwksUrl, fetchOpts, this.#dispatcher, logger, now);
        sources.set(cfg.jwksUrl, jwks);
      }
      this.#issuers.set(cfg.issuer, { cfg, jwks, types: new Set(cfg.tokenTypes.map(normaliseTyp)) });
    }
  }

  get size(): number { return this.#issuers.size; }

  /**
   * Verifies `token` when it is a JWT whose `iss` is a configured issuer; `undefined` when it is not (an
   * opaque token, or a JWT of an issuer not configured here). Throws 401 invalid/expired or 503.
   */
  async verify(token: string): Promise<VerifiedToken | undefined> {
    if (!JWS_COMPACT_RE.test(token)) return undefined;
    let iss: unknown;
    let alg: unknown;
    let typ: unknown;
    try {
      ({ alg, typ } = decodeProtectedHeader(token));
      iss = decodeJwt(token).iss;
    } catch {
      return undefined;
    }
    const entry = typeof iss === 'string' ? this.#issuers.get(iss) : undefined;
    if (entry === undefined) return undefined;
    const { cfg, jwks } = entry;
    // Checked here too (jose would refuse as well) so `none` and HS* never reach key selection.
    if (typeof alg !== 'string' || !(cfg.algorithms as readonly string[]).includes(alg)) throw invalid(`alg ${typeof alg === 'string' ? alg.slice(0, 16) : '?'} not allowed for issuer`);
    // The header is signed: refusing on it before the signature is checked only saves the work.
    if (typ === undefined ? !cfg.allowUntyped : typeof typ !== 'string' || !entry.types.has(normaliseTyp(typ)) || NON_ACCESS_TYPES.has(normaliseTyp(typ))) {
      throw invalid(`typ ${typeof typ === 'string' ? JSON.stringify(typ.slice(0, 32)) : 'absent'} is not an accepted access token type`);
    }

    const options = {
      issuer: cfg.issuer,
      audience: typeof cfg.audience === 'string' ? cfg.audience : [...cfg.audience],
      algorithms: [...cfg.algorithms],
      clockTolerance: cfg.clockToleranceSeconds,
      currentDate: new Date(this.now()),
      requiredClaims: cfg.requireExpiry ? ['exp'] : [],
    };
    let payload: JWTPayload;
    try {
      payload = await verifyWithSet(token, await jwks.keys(), options);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw mapJoseError(err);
      const fresh = await jwks.refreshForUnknownKey();
      if (fresh === undefined) throw invalid('no JWKS key matches the token (refetch cooling down)');
      try {
        payload = await verifyWithSet(token, fresh, options);
      } catch (err2) {
        throw err2 instanceof errors.JWKSNoMatchingKey ? invalid('no JWKS key matches the token after refetch') : mapJoseError(err2);
      }
    }
    return this.#toVerified(cfg, payload);
  }

  #toVerified(cfg: ExternalIssuer, payload: JWTPayload): VerifiedToken {
    // Keycloak types its tokens in a claim (`Bearer`, `Refresh`, `ID`, `Logout`, `Offline`).
    if (typeof payload.typ === 'string' && NON_ACCESS_TYPES.has(normaliseTyp(payload.typ))) {
      throw invalid(`typ claim ${JSON.stringify(payload.typ.slice(0, 32))} is not an access token`);
    }
    const sub = payload[cfg.subjectClaim];
    if (typeof sub !== 'string' || sub === '' || sub.length > MAX_SUBJECT || CONTROL_RE.test(sub)) {
      throw invalid(`subject claim ${cfg.subjectClaim} missing or not a sane string`);
    }
    let account: string | undefined;
    if (cfg.accountClaim !== undefined) {
      const a = payload[cfg.accountClaim];
      if (typeof a === 'string' && a !== '' && a.length <= MAX_SUBJECT && !CONTROL_RE.test(a)) account = a;
      else if (typeof a === 'number' && Number.isSafeInteger(a)) account = String(a);
    }
    const identity: Identity = Object.freeze({
      subject: cfg.subjectPrefix + sub,
      scheme: this.scheme,
      kind: cfg.kind,
      ...(account !== undefined ? { account } : {}),
      ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp * 1000 } : {}),
    });
    return { identity, missingScopes: missingScopes(cfg.requiredScopes, tokenScopes(payload)) };
  }
}

type VerifyOptions = Parameters<typeof jwtVerify>[2];

/** jwtVerify against a local set; when several keys match a kid-less token, tries each (signature failures only). */
async function verifyWithSet(token: string, keys: LocalJWKSet, options: VerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, keys, options)).payload;
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    for await (const key of err as unknown as AsyncIterable<JoseCryptoKey>) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (inner) {
        if (inner instanceof errors.JWSSignatureVerificationFailed) continue;
        throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

/** `scope` (space-separated, RFC 8693/9068) or `scp` (string or list). */
export function tokenScopes(claims: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const v of [claims.scope, claims.scp]) {
    if (typeof v === 'string') out.push(...v.split(' ').filter((s) => s !== ''));
    else if (Array.isArray(v)) out.push(...v.filter((s): s is string => typeof s === 'string'));
  }
  return out;
}

export function missingScopes(required: readonly string[], have: readonly string[]): string[] {
  if (required.length === 0) return [];
  const set = new Set(have);
  return required.filter((s) => !set.has(s));
}

function invalid(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid credentials', { reason: 'invalid', detail: `external JWT: ${detail}` });
}

/** jose's verdicts → 401 invalid/expired; anything else is not a verdict about the token. */
function mapJoseError(err: unknown): unknown {
  if (err instanceof TrackgateError) return err;
  if (err instanceof errors.JWTExpired) {
    return new TrackgateError('TG_ERR_EXPIRED_CREDENTIALS', 'credentials expired', { reason: 'expired', detail: 'external JWT: expired' });
  }
  if (err instanceof errors.JWTClaimValidationFailed) return invalid(`claim ${err.claim} ${err.reason}`);
  if (err instanceof errors.JOSEError) return invalid(err.code);
  return err;
}
