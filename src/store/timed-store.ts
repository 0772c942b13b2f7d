/**
 * A Store that reports how long each operation of the store it wraps took (`trackgate_store_duration_seconds`),
 * failed ones included: a slow or failing SQLite disk or Redis shows up per operation. It also reports the
 * tokens' lifecycle by the dialect that issued them (`trackgate_tokens_total`), which only the records know: a
 * refresh or revocation is attributed by reading the records it touched afterwards, off the caller's path
 * (these are rare operations; the request path's lookups are not touched).
 */
import type { CreateUserResult, InventoryFilter, InventoryRecord, Store, StoreEvent, StoredUser, TokenRecord } from './types.js';

/** Metric label of each operation. */
export type StoreOp =
  | 'ping' | 'put_token' | 'get_token' | 'revoke_tokens' | 'rotate_token' | 'revoke_family' | 'list_tokens'
  | 'purge_expired' | 'create_user' | 'get_user' | 'get_user_by_username' | 'get_user_by_key' | 'delete_user'
  | 'record_inventory' | 'list_inventory' | 'count_inventory_clients' | 'prune_inventory';

/** `issued`: a token written; `refreshed`: a refresh token spent for a new pair; `revoked`: a live token revoked. */
export type TokenEvent = 'issued' | 'refreshed' | 'revoked';

export class TimedStore implements Store {
  constructor(
    readonly inner: Store,
    private readonly time: (op: StoreOp, seconds: number) => void,
    private readonly tokenEvent: (event: TokenEvent, issuer: string) => void = () => undefined,
  ) {}

  get engine(): string { return this.inner.engine; }

  #timed<T>(op: StoreOp, call: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const done = (): void => this.time(op, (performance.now() - t0) / 1000);
    const p = call();
    p.then(done, done);
    return p;
  }

  ping(): Promise<void> { return this.#timed('ping', () => this.inner.ping()); }
  putToken(rec: TokenRecord): Promise<void> {
    const p = this.#timed('put_token', () => this.inner.putToken(rec));
    p.then(() => this.tokenEvent('issued', rec.issuer), () => undefined);
    return p;
  }
  getToken(digest: string): Promise<TokenRecord | undefined> { return this.#timed('get_token', () => this.inner.getToken(digest)); }
  revokeTokens(digests: readonly string[], at: number): Promise<number> {
    const p = this.#timed('revoke_tokens', () => this.inner.revokeTokens(digests, at));
    p.then((n) => { if (n > 0) this.#attribute('revoked', digests, at); }, () => undefined);
    return p;
  }
  rotateToken(digest: string, at: number, rotated: string): Promise<boolean> {
    const p = this.#timed('rotate_token', () => this.inner.rotateToken(digest, at, rotated));
    p.then((won) => { if (won) this.#attribute('refreshed', [digest], at); }, () => undefined);
    return p;
  }
  revokeFamily(family: string, at: number): Promise<string[]> {
    const p = this.#timed('revoke_family', () => this.inner.revokeFamily(family, at));
    p.then((digests) => this.#attribute('revoked', digests, at), () => undefined);
    return p;
  }

  /** Counts `event` for each record among `digests` that the operation at `at` changed, by its issuer. */
  #attribute(event: TokenEvent, digests: readonly string[], at: number): void {
    for (const d of digests) {
      this.inner.getToken(d).then((rec) => { if (rec !== undefined && rec.revokedAt === at) this.tokenEvent(event, rec.issuer); }, () => undefined);
    }
  }
  listTokens(filter: { subject?: string; limit: number }): Promise<TokenRecord[]> { return this.#timed('list_tokens', () => this.inner.listTokens(filter)); }
  purgeExpired(before: number): Promise<number> { return this.#timed('purge_expired', () => this.inner.purgeExpired(before)); }
  createUser(user: StoredUser): Promise<CreateUserResult> { return this.#timed('create_user', () => this.inner.createUser(user)); }
  getUser(id: string): Promise<StoredUser | undefined> { return this.#timed('get_user', () => this.inner.getUser(id)); }
  getUserByUsername(username: string): Promise<StoredUser | undefined> { return this.#timed('get_user_by_username', () => this.inner.getUserByUsername(username)); }
  getUserByKey(app: string, key: string): Promise<StoredUser | undefined> { return this.#timed('get_user_by_key', () => this.inner.getUserByKey(app, key)); }
  deleteUser(id: string, at: number): Promise<string[] | undefined> {
    const p = this.#timed('delete_user', () => this.inner.deleteUser(id, at));
    p.then((digests) => this.#attribute('revoked', digests ?? [], at), () => undefined);
    return p;
  }
  recordInventory(updates: readonly InventoryRecord[]): Promise<void> { return this.#timed('record_inventory', () => this.inner.recordInventory(updates)); }
  listInventory(filter: InventoryFilter): Promise<InventoryRecord[]> { return this.#timed('list_inventory', () => this.inner.listInventory(filter)); }
  countInventoryClients(since: number): Promise<Map<string, number>> { return this.#timed('count_inventory_clients', () => this.inner.countInventoryClients(since)); }
  pruneInventory(before: number): Promise<number> { return this.#timed('prune_inventory', () => this.inner.pruneInventory(before)); }
  subscribe(listener: (e: StoreEvent) => void): () => void { return this.inner.subscribe(listener); }
  close(): Promise<void> { return this.inner.close(); }
}
