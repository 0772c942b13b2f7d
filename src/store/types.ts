/**
 * The store: durable state shared by every request (and, with Redis, every replica): issued tokens and
 * their revocation. Tokens are kept only as digests: a copy of the database yields no usable token.
 */

/** One issued token, keyed by the digest of its value. */
export interface TokenRecord {
  /** Lookup digest of the token value (never the value). */
  readonly digest: string;
  /** What the token is: a session token, an access token, a refresh token … (dialect-defined). */
  readonly type: string;
  /** The issuing dialect or form id. */
  readonly issuer: string;
  readonly subject: string;
  readonly kind: string;
  readonly account?: string;
  readonly instance?: string;
  /** Refresh family, for reuse detection. */
  readonly family?: string;
  /** Epoch milliseconds. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Epoch milliseconds of revocation, if revoked. */
  readonly revokedAt?: number;
  /** Dialect-specific fields (response shape, parent token …), small JSON. */
  readonly data?: Readonly<Record<string, unknown>>;
}

export type StoreEvent = { type: 'revoked'; digests: readonly string[] };

export interface Store {
  /** `sqlite` or `redis`. */
  readonly engine: string;
  /** Resolves when the store answers; rejects otherwise (readiness). */
  ping(): Promise<void>;
  putToken(rec: TokenRecord): Promise<void>;
  getToken(digest: string): Promise<TokenRecord | undefined>;
  /** Marks tokens revoked; resolves with how many were live. Emits a `revoked` event (to every replica). */
  revokeTokens(digests: readonly string[], at: number): Promise<number>;
  /** Tokens of a subject (for operators' `tokens list`). */
  listTokens(filter: { subject?: string; limit: number }): Promise<TokenRecord[]>;
  /** Deletes records expired before `before`; returns how many. */
  purgeExpired(before: number): Promise<number>;
  /** Subscribes to store events (revocations from this or another replica). Returns an unsubscribe. */
  subscribe(listener: (e: StoreEvent) => void): () => void;
  close(): Promise<void>;
}
