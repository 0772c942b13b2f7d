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
  /** Epoch milliseconds of revocation (or of rotation, for a spent refresh token), if no longer usable. */
  readonly revokedAt?: number;
  /**
   * Spent refresh tokens only: the pair they were exchanged for, encrypted under a key derived from the
   * refresh token's own value (so only its holder can read it), for the retry grace window.
   */
  readonly rotated?: string;
  /** Dialect-specific fields (response shape, parent token …), small JSON. */
  readonly data?: Readonly<Record<string, unknown>>;
}

/**
 * `revoked`: these tokens stopped being usable (drop what was derived from them). `resync`: events may have been
 * missed (a replica's event subscription was down): drop everything derived from the store.
 */
export type StoreEvent = { type: 'revoked'; digests: readonly string[] } | { type: 'resync' };

/**
 * A user created through a token endpoint (Geoloqi `user/create`, `user/create_anon`). The store is the source
 * of truth for these (the accounts file holds the operator-managed ones); never deleted by expiry.
 */
export interface StoredUser {
  /** Stable subject id (`user_id`). */
  readonly id: string;
  /** Unique across stored users (NFC). Anonymous users get `_<random>`. */
  readonly username: string;
  /** Password hash (scrypt, `hashPassword`); absent for anonymous users. */
  readonly password?: string;
  readonly email?: string;
  /** Client id of the application that created the user: de-duplication keys are unique per application. */
  readonly app: string;
  /** The application's de-duplication key. */
  readonly key?: string;
  readonly anonymous: boolean;
  readonly displayName: string;
  /** The application's own small JSON (`extra`). */
  readonly extra?: Readonly<Record<string, unknown>>;
  /** Epoch milliseconds. */
  readonly createdAt: number;
}

/** Outcome of {@link Store.createUser}: a taken username or (app, key) is refused atomically. */
export type CreateUserResult = 'created' | 'duplicate_username' | 'duplicate_key' | 'duplicate_id';

/**
 * Who used which credential form (the inventory): one record per client × scheme × dialect. Missing parts are
 * empty strings, so the key has one spelling in every engine.
 */
export interface InventoryKey {
  /** The credential form id. */
  readonly scheme: string;
  /** The token-endpoint dialect that issued the credential, or the form's wire variant; '' when neither. */
  readonly dialect: string;
  readonly subject: string;
  readonly kind: string;
  readonly account: string;
  readonly instance: string;
}

/** An inventory record, or a batch of sightings merged into one (epoch milliseconds). */
export interface InventoryRecord extends InventoryKey {
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly count: number;
  /** The User-Agent of the latest sighting, if it had one. */
  readonly userAgent?: string;
  /** The client address of the latest sighting, only where `inventory.recordAddress` is on. */
  readonly address?: string;
}

/** What {@link Store.listInventory} returns: every part optional, newest last-seen first. */
export interface InventoryFilter {
  readonly scheme?: string;
  readonly kind?: string;
  readonly account?: string;
  /** Only records last seen at or after this (epoch milliseconds). */
  readonly seenSince?: number;
  readonly limit: number;
}

export interface Store {
  /** `sqlite` or `redis`. */
  readonly engine: string;
  /** Resolves when the store answers; rejects otherwise (readiness). */
  ping(): Promise<void>;
  putToken(rec: TokenRecord): Promise<void>;
  getToken(digest: string): Promise<TokenRecord | undefined>;
  /** Marks tokens revoked; resolves with how many were live. Emits a `revoked` event (to every replica). */
  revokeTokens(digests: readonly string[], at: number): Promise<number>;
  /**
   * Marks a live refresh token as spent, atomically: true for the one caller that wins, false when the token
   * was already spent or revoked (a concurrent refresh got there first).
   */
  rotateToken(digest: string, at: number, rotated: string): Promise<boolean>;
  /** Revokes every live token of a refresh family; resolves with their digests. Emits `revoked`. */
  revokeFamily(family: string, at: number): Promise<string[]>;
  /** Tokens of a subject (for operators' `tokens list`). */
  listTokens(filter: { subject?: string; limit: number }): Promise<TokenRecord[]>;
  /** Deletes records expired before `before`; returns how many. */
  purgeExpired(before: number): Promise<number>;
  /**
   * Subscribes to store events (revocations from this or another replica; with SQLite, also from another process
   * on the same file, such as `trackgate tokens revoke`, seen within about a second). Returns an unsubscribe.
   */
  subscribe(listener: (e: StoreEvent) => void): () => void;
  /** Creates a user (durable); refuses, atomically, a username or (app, key) already taken. */
  createUser(user: StoredUser): Promise<CreateUserResult>;
  getUser(id: string): Promise<StoredUser | undefined>;
  getUserByUsername(username: string): Promise<StoredUser | undefined>;
  getUserByKey(app: string, key: string): Promise<StoredUser | undefined>;
  /**
   * Deletes a stored user (its username and key become free) and revokes, in the same step, every live token
   * whose subject is its id; emits `revoked` for those (to every replica). Resolves with their digests, or
   * undefined when there is no such user. (Redis: past its listing index of a subject's newest 1000 tokens, by a
   * scan of every token.)
   */
  deleteUser(id: string, at: number): Promise<string[] | undefined>;
  /**
   * Merges sightings into the inventory, atomically per call (concurrent callers on any replica add up): count
   * added, first seen the earliest, last seen the latest, user agent and address those of the latest.
   */
  recordInventory(updates: readonly InventoryRecord[]): Promise<void>;
  listInventory(filter: InventoryFilter): Promise<InventoryRecord[]>;
  /** Distinct clients (subject, kind, account, instance) per scheme last seen at or after `since`. */
  countInventoryClients(since: number): Promise<Map<string, number>>;
  /** Deletes inventory records last seen before `before`; returns how many. */
  pruneInventory(before: number): Promise<number>;
  close(): Promise<void>;
}
