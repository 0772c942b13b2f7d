/**
 * The contracts every credential form implements. A form is one file in `src/authn/forms/` exporting an
 * AuthenticatorModule (`module.ts`), plus its id in `ids.ts` and one line in `registry.ts`.
 *
 * The pipeline splits *finding* a credential from *verifying* it (as Oathkeeper's "not responsible" sentinel
 * does, but as a return value): it can then reject ambiguous requests before any crypto, put one validation
 * cache in front of every form, and label metrics with a fixed set of reasons.
 */
import type { AccountDirectory } from '../accounts/directory.js';
import type { Store } from '../store/types.js';
import type { Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { AuthReason } from '../errors.js';
import type { Identity } from '../identity/identity.js';
import type { AuthnId } from './ids.js';

export type { Identity, IdentityKind } from '../identity/identity.js';
export type { AuthnId } from './ids.js';

/**
 * Request headers as Node's parser gives them, lower-cased: one string per header (repeats joined), a list
 * for `set-cookie`. Declared here so the forms see a plain map, not `node:http`.
 */
export interface RequestHeaders {
  readonly [name: string]: string | string[] | undefined;
  readonly authorization?: string;
  readonly cookie?: string;
  readonly 'content-length'?: string;
  readonly 'content-type'?: string;
  readonly 'transfer-encoding'?: string;
}

/** Read-only view of an incoming request; authenticators never see a framework's request object. */
export interface RequestView {
  readonly method: string;
  /** Request target as received (path and query), before credential scrubbing. */
  readonly url: string;
  /** Path part of the target, without the query string. */
  readonly path: string;
  /** Lower-cased header map (Node keeps the first of duplicated singleton headers). */
  readonly headers: RequestHeaders;
  /** HTTP version as `major.minor`. */
  readonly httpVersion: string;
  /** Whether the client reached us over TLS (directly or per a trusted `X-Forwarded-Proto`). */
  readonly secure: boolean;
  /** Client address, for throttling and logs. */
  readonly remoteAddress: string;
  /** A query parameter's first value, or undefined. Parsed lazily. */
  query(name: string): string | undefined;
  /** A cookie's value, or undefined. Parsed lazily. */
  cookie(name: string): string | undefined;
}

/** Where a credential form's secrets travel (`AuthenticatorModule.carriers`); all are stripped before forwarding. */
export interface Carriers {
  readonly headers?: readonly string[];
  readonly cookies?: readonly string[];
  readonly query?: readonly string[];
}

/** A credential as found in a request; holds the secret only until it is verified. */
export interface Credential {
  readonly scheme: AuthnId;
  /**
   * The parts that identify this credential for the validation cache (length-prefixed and HMAC'ed by the
   * pipeline, never stored). `undefined` means the credential is single-use (e.g. a Digest response with a
   * fresh `nc`) and must not be served from the cache.
   */
  readonly cacheParts: readonly string[] | undefined;
}

/** What a verifier may use. Getters, because accounts and config are swapped on reload. */
export interface AuthnDeps {
  accounts(): AccountDirectory;
  readonly store: Store;
  readonly logger: Logger;
  /** Brute-force throttle for password checks (per user name and client address). */
  readonly throttle?: import('../store/throttle.js').Throttle;
  /** Password checks by name with equal failure timing (src/accounts/password-verifier.ts). */
  readonly passwords: import('../accounts/password-verifier.js').PasswordVerifier;
  /**
   * Digest `nc` replay store shared by several processes (the cluster primary's, over IPC); absent: the
   * Digest form keeps its own in memory.
   */
  readonly nonceCounter?: import('../store/digest-nonce-counter.js').NonceCounterStore;
  /** Secret for stateless HMACs that every replica shares (Digest nonces, …). */
  readonly sharedSecret: Buffer;
  /** Epoch milliseconds; injectable for tests. */
  now(): number;
  /** The app's metrics, for forms that count calls to an outside source (e.g. `remote`). Absent in unit tests. */
  readonly metrics?: Metrics;
  /**
   * Whether credential form `id` is enabled in the running config. Lets a form defer to another whose wire
   * format overlaps its own (Basic vs the telematics Basic variant) only while that other form is on.
   */
  formEnabled?(id: AuthnId): boolean;
}

export interface ChallengeContext {
  /** True when the rejected credential was a stale Digest nonce (RFC 7616 `stale=true`). */
  readonly stale?: boolean;
  /**
   * The form whose credential was rejected with this 401, and why; absent when the request carried none.
   * Lets a form say more about its own failure (RFC 6750 `error="invalid_token"`) and nothing about others'.
   */
  readonly failed?: { readonly scheme: AuthnId; readonly reason: AuthReason | undefined };
  readonly req: RequestView;
}

export interface Authenticator<C extends Credential = Credential> {
  readonly id: AuthnId;
  /**
   * Authorization-style headers and schemes this form takes over from local verification (the `remote` form).
   * The pipeline refuses to build (start or reload fails with a message) when another enabled form also
   * claims a credential there, instead of answering every such request 400 ambiguous.
   */
  readonly exclusive?: { readonly headers: readonly string[]; readonly schemes: readonly string[] };
  /**
   * Find this form's credential. `undefined` = not this form's (not responsible).
   * Throws a `TG_ERR_MALFORMED_CREDENTIALS` TrackgateError when it is this form's but unreadable.
   */
  extract(req: RequestView): C | undefined;
  /** Verify a credential; throws a TrackgateError (401/403/503) when it is not good. No caching here. */
  verify(cred: C, req: RequestView): Promise<Identity>;
  /** The `WWW-Authenticate` value(s) this form adds to a 401 (Digest: one per algorithm), if it has any. */
  challenge?(ctx: ChallengeContext): string | readonly string[] | undefined;
  /**
   * A parameter choosing whom the request acts for (Geoloqi `user_id`). The form checks the query itself; for a
   * restricted identity the proxy also reads the bodies an upstream parses into parameters (src/authn/acts-for.ts).
   */
  readonly actsFor?: import('./acts-for.js').ActsForRule;
}

/** Builds an authenticator from its config block and the shared deps. */
export type AuthenticatorFactory<O = unknown> = (options: O, deps: AuthnDeps) => Authenticator;
