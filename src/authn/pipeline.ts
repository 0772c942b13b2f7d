/**
 * The authentication pipeline: find every credential in the request → reject ambiguity → look the
 * credential up in the validation cache → verify on a miss → an Identity, or a TrackgateError carrying
 * the 401 challenges of every enabled form.
 */
import { TrackgateError } from '../errors.js';
import type { CacheOutcome, ValidationCache } from '../verify/cache.js';
import { fingerprint, type CredentialDigester } from '../verify/cache-key.js';
import type { ActsForRule } from './acts-for.js';
import { orderChallenges } from './challenge-order.js';
import type { Authenticator, AuthnId, ChallengeContext, Credential, Identity, RequestView } from './types.js';

export interface AuthResult {
  identity: Identity;
  scheme: AuthnId;
  cache: CacheOutcome;
  /** Keyed fingerprint of the credential for logs. */
  fingerprint: string | undefined;
}

export interface AuthFailureContext {
  /** The form whose credential was found (undefined when none was). */
  scheme: AuthnId | undefined;
  fingerprint: string | undefined;
  /** The request's path key, set by the caller where migration policies may hide challenges (form-policies.ts). */
  pathKey?: string;
}

/** The forms a 401 at a path key leaves out of its challenges (denied there to every client), if any. */
export type HiddenChallenges = (pathKey: string) => ReadonlySet<AuthnId> | undefined;

interface Found { auth: Authenticator; cred: Credential; key: string | undefined }

export class AuthPipeline {
  constructor(
    private readonly forms: readonly Authenticator[],
    private readonly cache: ValidationCache,
    private readonly digester: CredentialDigester,
    private readonly rejectAmbiguous: boolean,
    private readonly hiddenAt?: HiddenChallenges,
  ) {
    assertExclusiveClaims(forms);
  }

  get enabledForms(): readonly Authenticator[] { return this.forms; }

  /**
   * Authenticates a request. On failure throws (or rejects with) a TrackgateError (with `WWW-Authenticate`
   * headers for 401s) and fills `failure` so the caller can log and count which form failed. A validation
   * cache hit is answered synchronously (no promise); anything else returns a promise.
   */
  authenticate(req: RequestView, failure: AuthFailureContext): AuthResult | Promise<AuthResult> {
    let found: Found | undefined;
    for (const auth of this.forms) {
      let cred: Credential | undefined;
      try {
        cred = auth.extract(req);
      } catch (err) {
        failure.scheme = auth.id;
        throw this.#withChallenges(err, req, auth.id, failure);
      }
      if (cred === undefined) continue;
      const key = cred.cacheParts === undefined ? undefined : this.digester.digest(cred.scheme, cred.cacheParts);
      if (found === undefined) { found = { auth, cred, key }; continue; }
      // The same secret via two carriers (e.g. `_token` query and `token` cookie, as the GPS seed's own
      // example sends) is one credential; two different ones are ambiguous.
      if (this.rejectAmbiguous && (key === undefined || key !== found.key)) {
        failure.scheme = found.auth.id;
        throw new TrackgateError('TG_ERR_AMBIGUOUS_CREDENTIALS', 'request carries more than one credential', {
          reason: 'ambiguous', detail: `forms ${found.auth.id} and ${auth.id}`,
        });
      }
    }
    if (found === undefined) {
      throw new TrackgateError('TG_ERR_NO_CREDENTIALS', 'authentication required', {
        reason: 'no_credentials', headers: { 'www-authenticate': this.challenges(req, false, undefined, this.#hidden(failure)) },
      });
    }
    failure.scheme = found.auth.id;
    const { auth, cred, key } = found;
    if (key === undefined) return this.#verify(found, req, undefined, failure);
    const fp = fingerprint(key);
    failure.fingerprint = fp;
    let hit;
    try {
      hit = this.cache.lookup(key);
    } catch (err) {
      throw this.#withChallenges(err, req, auth.id, failure);
    }
    if (hit !== undefined) return { identity: hit.identity, scheme: auth.id, cache: hit.outcome, fingerprint: fp };
    return this.#verify({ auth, cred, key }, req, fp, failure);
  }

  /** The slow path: verification through the cache (single-flight), or uncached for forms without a key. */
  async #verify({ auth, cred, key }: Found, req: RequestView, fp: string | undefined, failure: AuthFailureContext): Promise<AuthResult> {
    try {
      if (key === undefined) {
        const identity = await auth.verify(cred, req);
        return { identity, scheme: auth.id, cache: 'bypass', fingerprint: undefined };
      }
      // `authenticate` looked the key up a moment ago (synchronously): straight to the verification.
      const { identity, outcome } = await this.cache.verifyMiss(key, () => auth.verify(cred, req));
      return { identity, scheme: auth.id, cache: outcome, fingerprint: fp };
    } catch (err) {
      throw this.#withChallenges(err, req, auth.id, failure);
    }
  }

  /**
   * The `WWW-Authenticate` values of every enabled form that has a challenge, one header line each, in the
   * order common Digest clients need (challenge-order.ts): the first Digest challenge leads, the others close.
   * `hidden`: forms left out (a migration policy denies them), the others keeping that order.
   */
  challenges(req: RequestView, stale = false, failed?: ChallengeContext['failed'], hidden?: ReadonlySet<AuthnId>): string[] {
    const out: string[] = [];
    for (const f of this.forms) {
      if (hidden?.has(f.id) === true) continue;
      const c = f.challenge?.(failed === undefined ? { req, stale } : { req, stale, failed });
      if (c !== undefined) out.push(...(typeof c === 'string' ? [c] : c));
    }
    return orderChallenges(out);
  }

  /** The challenges of one enabled form (the GPS seed's auth-basic/auth-digest URLs answer with one). */
  challengeOf(formId: AuthnId, req: RequestView): string[] {
    const form = this.forms.find((f) => f.id === formId);
    const c = form?.challenge?.({ req });
    return c === undefined ? [] : ([] as string[]).concat(c);
  }

  /** The acts-for rule of enabled form `formId` (the proxy checks request bodies against it), if it has one. */
  actsForRule(formId: AuthnId): ActsForRule | undefined {
    for (const f of this.forms) if (f.id === formId) return f.actsFor;
    return undefined;
  }

  #hidden(failure: AuthFailureContext): ReadonlySet<AuthnId> | undefined {
    return failure.pathKey === undefined ? undefined : this.hiddenAt?.(failure.pathKey);
  }

  #withChallenges(err: unknown, req: RequestView, scheme: AuthnId, failure: AuthFailureContext): unknown {
    if (!(err instanceof TrackgateError) || err.status !== 401 || err.headers?.['www-authenticate'] !== undefined) return err;
    return new TrackgateError(err.code, err.message, {
      ...(err.detail !== undefined ? { detail: err.detail } : {}),
      ...(err.reason !== undefined ? { reason: err.reason } : {}),
      headers: { ...err.headers, 'www-authenticate': this.challenges(req, err.reason === 'stale', { scheme, reason: err.reason }, this.#hidden(failure)) },
      cause: err,
    });
  }
}

/**
 * A form that takes over Authorization schemes (`remote`) must be the only enabled form claiming them:
 * otherwise every such request would carry "two credentials" and get 400. Each other form's `extract` is
 * probed with the header and scheme (extract is pure and cheap; returning a credential or throwing both
 * mean "mine"), so no form has to declare what it reads.
 */
function assertExclusiveClaims(forms: readonly Authenticator[]): void {
  for (const owner of forms) {
    if (owner.exclusive === undefined) continue;
    for (const header of owner.exclusive.headers) {
      for (const scheme of owner.exclusive.schemes) {
        const probe = probeRequest(header.toLowerCase(), `${scheme} ${PROBE_CREDENTIALS}`);
        for (const other of forms) {
          if (other === owner) continue;
          let claims: boolean;
          try { claims = other.extract(probe) !== undefined; } catch { claims = true; }
          if (claims) {
            throw new Error(`authn.${owner.id} takes over "${header}: ${scheme}" credentials, which the enabled form authn.${other.id} `
              + `also accepts: ${owner.id} replaces local verification for the schemes it lists, so disable authn.${other.id} `
              + `or remove "${scheme}" from authn.${owner.id}.schemes`);
          }
        }
      }
    }
  }
}

/** base64("trackgate:probe"): well-formed for Basic and as a bearer token. */
const PROBE_CREDENTIALS = 'dHJhY2tnYXRlOnByb2Jl';

function probeRequest(header: string, value: string): RequestView {
  return {
    method: 'GET', url: '/', path: '/', headers: { [header]: value }, httpVersion: '1.1', secure: true, remoteAddress: '127.0.0.1',
    query: () => undefined, cookie: () => undefined,
  };
}
