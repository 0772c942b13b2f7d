/**
 * Legacy token endpoints ("dialects"): each seed document's login/refresh/create endpoints, served by
 * trackgate itself in that document's own paths, shapes and status codes. One file per dialect in
 * `dialects/`, one line in `registry.ts`.
 */
import type { z } from 'zod';
import type { AccountDirectory } from '../accounts/directory.js';
import type { AuthResult } from '../authn/pipeline.js';
import type { AuthnId } from '../authn/ids.js';
import type { RequestView } from '../authn/types.js';
import type { TrackgateError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { Store } from '../store/types.js';
import type { Throttle } from '../store/throttle.js';
import type { PasswordVerifier } from '../accounts/password-verifier.js';
import type { Subject, TokenService } from './tokens.js';
import type { PairOptions, RefreshRotation, TokenPair } from './refresh.js';
import type { DialectId } from './ids.js';

export type { DialectId } from './ids.js';

/**
 * What a dialect's route handler gets: plain data and functions, no HTTP objects. The proxy's token-endpoint
 * adapter (src/proxy/token-endpoint.ts) builds it from the Node request; a test can build it by hand.
 */
export interface IssueRequest {
  readonly view: RequestView;
  /** The parsed body (JSON or form-urlencoded; `{}` when empty). Throws 400/413/415 TrackgateErrors. */
  body(): Promise<Record<string, unknown>>;
  /** Runs the proxy's authentication pipeline; `undefined` when the request carries no credential. */
  authenticate(): Promise<AuthResult | undefined>;
  /** The `WWW-Authenticate` values of one credential form (e.g. `basic`, `digest`), for legacy challenges. */
  challengeOf(formId: AuthnId): string[];
  /** The HTTP reason phrase of a status (`Unauthorized`), for documents that echo it; undefined if unknown. */
  statusText(status: number): string | undefined;
}

/** A dialect's answer. `body` is JSON-encoded unless it is a string or undefined. */
export interface IssueReply {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: unknown;
  /** The failure this reply renders: logged by the proxy, and its headers (Retry-After …) are sent. */
  error?: TrackgateError;
}

export interface IssueRoute {
  readonly method: 'GET' | 'POST';
  /** Full path (prefix included), matched exactly. */
  readonly path: string;
  handle(req: IssueRequest): Promise<IssueReply>;
  /** What the OpenAPI document says of it (src/admin/openapi.ts); the path and method come from the route itself. */
  readonly doc?: RouteDoc;
}

/** An endpoint as the seed documents it, for the generated OpenAPI document. */
export interface RouteDoc {
  readonly summary: string;
  /** Body fields (JSON or form-urlencoded), by name: `true` when required. */
  readonly fields?: Readonly<Record<string, boolean | undefined>>;
  /** Status of a success (default 200; the GPS token endpoint answers 303). */
  readonly success?: number;
  /** A success body rendered by the dialect's own renderer from placeholders (src/issue/sample-pair.ts): its schema. */
  sample?(req: IssueRequest): unknown;
  /** Request headers the endpoint reads as plain parameters, by their documented spelling: `true` when required. */
  readonly headers?: Readonly<Record<string, boolean | undefined>>;
  /** Credential forms the endpoint reads from the request's headers (their security schemes), besides the body. */
  readonly forms?: readonly AuthnId[];
}

export interface IssueDeps {
  accounts(): AccountDirectory;
  readonly store: Store;
  readonly tokens: TokenService;
  readonly throttle: Throttle;
  /** Password checks by name with equal failure timing (src/accounts/password-verifier.ts). */
  readonly passwords: PasswordVerifier;
  /** Access + refresh pairs with rotation, reuse detection and the retry grace window. */
  readonly refresh: RefreshRotation;
  /** Signs JWT claims with trackgate's active key (for dialects whose access tokens are JWTs). */
  signJwt(claims: Record<string, unknown>, typ: string): string;
  readonly logger: Logger;
  now(): number;
}

export interface Dialect {
  readonly id: DialectId;
  readonly routes: readonly IssueRoute[];
  /** Renders any error in this dialect's own wire shape. */
  renderError(err: TrackgateError, req: IssueRequest): IssueReply;
  /** Its part in the shared refresh endpoint, if its pairs are refreshed there (src/issue/shared-refresh.ts). */
  readonly refresh?: RefreshCapability;
}

/**
 * How a dialect whose pairs are refreshed at the shared `POST <prefix>/refresh` takes part: the router serves
 * one endpoint per declared path, and each of them refreshes the families of every declaring dialect.
 */
export interface RefreshCapability {
  /** Full path of its refresh endpoint (prefix included). */
  readonly path: string;
  /**
   * Body fields (JSON or form-urlencoded, like every token endpoint) that carry the refresh token, this
   * dialect's own first: a request that uses it gets errors in this dialect's shape until the token's issuer is known.
   */
  readonly fields: readonly string[];
  /** A refreshed pair, in this dialect's login shape. */
  renderPair(pair: TokenPair, req: IssueRequest): IssueReply;
  /** The access-token builder of its refreshed pairs (JWT dialects); random opaque values when absent. */
  accessValueFor?(subject: Subject): PairOptions['accessValue'];
}

export interface DialectModule<Id extends DialectId = DialectId, S extends z.ZodType<{ enabled: boolean }> = z.ZodType<{ enabled: boolean }>> {
  readonly id: Id;
  /** Config block schema under `issue.<id>`: `enabled`, `prefix`, lifetimes … with defaults. */
  readonly options: S;
  create(options: z.output<S>, deps: IssueDeps): Dialect;
}

export function defineDialect<const Id extends DialectId, S extends z.ZodType<{ enabled: boolean }>>(m: DialectModule<Id, S>): DialectModule<Id, S> {
  return m;
}
