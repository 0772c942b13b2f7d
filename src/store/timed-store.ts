/**
 * A Store that reports how long each operation of the store it wraps took (`trackgate_store_duration_seconds`),
 * failed ones included: a slow or failing SQLite disk or Redis shows up per operation.
 */
import type { CreateUserResult, Store, StoreEvent, StoredUser, TokenRecord } from './types.js';

/** Metric label of each operation. */
export type StoreOp =
  | 'ping' | 'put_token' | 'get_token' | 'revoke_tokens' | 'rotate_token' | 'revoke_family' | 'list_tokens'
  | 'purge_expired' | 'create_user' | 'get_user' | 'get_user_by_username' | 'get_user_by_key';

export class TimedStore implements Store {
  constructor(readonly inner: Store, private readonly time: (op: StoreOp, seconds: number) => void) {}

  get engine(): string { return this.inner.engine; }

  #timed<T>(op: StoreOp, call: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const done = (): void => this.time(op, (performance.now() - t0) / 1000);
    const p = call();
    p.then(done, done);
    return p;
  }

  ping(): Promise<void> { return this.#timed('ping', () => this.inner.ping()); }
  putToken(rec: TokenRecord): Promise<void> { return this.#timed('put_token', () => this.inner.putToken(rec)); }
  getToken(digest: string): Promise<TokenRecord | undefined> { return this.#timed('get_token', () => this.inner.getToken(digest)); }
  revokeTokens(digests: readonly string[], at: number): Promise<number> { return this.#timed('revoke_tokens', () => this.inner.revokeTokens(digests, at)); }
  rotateToken(digest: string, at: number, rotated: string): Promise<boolean> { return this.#timed('rotate_token', () => this.inner.rotateToken(digest, at, rotated)); }
  revokeFamily(family: string, at: number): Promise<string[]> { return this.#timed('revoke_family', () => this.inner.revokeFamily(family, at)); }
  listTokens(filter: { subject?: string; limit: number }): Promise<TokenRecord[]> { return this.#timed('list_tokens', () => this.inner.listTokens(filter)); }
  purgeExpired(before: number): Promise<number> { return this.#timed('purge_expired', () => this.inner.purgeExpired(before)); }
  createUser(user: StoredUser): Promise<CreateUserResult> { return this.#timed('create_user', () => this.inner.createUser(user)); }
  getUser(id: string): Promise<StoredUser | undefined> { return this.#timed('get_user', () => this.inner.getUser(id)); }
  getUserByUsername(username: string): Promise<StoredUser | undefined> { return this.#timed('get_user_by_username', () => this.inner.getUserByUsername(username)); }
  getUserByKey(app: string, key: string): Promise<StoredUser | undefined> { return this.#timed('get_user_by_key', () => this.inner.getUserByKey(app, key)); }
  subscribe(listener: (e: StoreEvent) => void): () => void { return this.inner.subscribe(listener); }
  close(): Promise<void> { return this.inner.close(); }
}
