/**
 * The embedded default store: one SQLite file (`node:sqlite`, WAL). Writes are committed before the
 * response that depends on them is sent, so a killed process loses nothing it has acknowledged.
 *
 * Revocations by another process on the same file (`trackgate tokens revoke` while trackgate runs): SQLite has
 * no pub/sub, so every revocation is also appended to `revocation_log` (seq, digest, origin), and a store with
 * subscribers polls it every {@link REVOCATION_POLL_MS} ms, turning other processes' rows into `revoked` events.
 * A CLI revocation therefore reaches the running process's caches and WebSockets within about a second. Rows are
 * pruned after {@link REVOCATION_LOG_KEEP_MS}; a process that did not poll for that long (suspended) emits `resync`.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_SQLITE_CACHE_BYTES } from '../config/schema.js';
import { DatabaseSync, type Database, type Statement } from './node-sqlite.js';
import type { CreateUserResult, InventoryFilter, InventoryRecord, Store, StoreEvent, StoredUser, TokenRecord } from './types.js';

/** How often a subscribed store looks for revocations made by other processes on the same file. */
export const REVOCATION_POLL_MS = 1000;
/** Revocation log rows older than this are pruned. */
export const REVOCATION_LOG_KEEP_MS = 10 * 60_000;

type UserRow = {
  id: string; username: string; password: string | null; email: string | null; app: string; key: string | null;
  anonymous: number; display_name: string; extra: string | null; created_at: number;
};

type Row = {
  digest: string; type: string; issuer: string; subject: string; kind: string;
  account: string | null; instance: string | null; family: string | null;
  issued_at: number; expires_at: number; revoked_at: number | null; data: string | null; rotated: string | null;
};

export class SqliteStore implements Store {
  readonly engine = 'sqlite';
  readonly #db: Database;
  readonly #listeners = new Set<(e: StoreEvent) => void>();
  readonly #stmts;
  /** Tells this store's own revocation-log rows apart from other processes'. */
  readonly #origin = randomUUID();
  readonly #pollMs: number;
  #poll: NodeJS.Timeout | undefined;
  #lastSeq = 0;
  #polls = 0;
  #open = true;

  /**
   * @param opts.pollMs how often to look for other processes' revocations (default {@link REVOCATION_POLL_MS})
   * @param opts.cacheBytes SQLite page cache of this connection (default {@link DEFAULT_SQLITE_CACHE_BYTES})
   */
  constructor(readonly path: string, opts: { pollMs?: number; cacheBytes?: number } = {}) {
    this.#pollMs = opts.pollMs ?? REVOCATION_POLL_MS;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new DatabaseSync(path);
    // Other processes on the file (cluster workers, the CLI) wait this long for a lock instead of failing. First:
    // node:sqlite starts with none, and workers opening one new file at once contend already for the WAL switch.
    this.#db.exec('PRAGMA busy_timeout = 5000');
    this.#db.exec('PRAGMA journal_mode = WAL');
    // NORMAL in WAL mode survives a process crash (SIGKILL); only an OS crash can lose the last commits.
    this.#db.exec('PRAGMA synchronous = NORMAL');
    // Negative: a size in KiB rather than a page count.
    this.#db.exec(`PRAGMA cache_size = ${-Math.ceil((opts.cacheBytes ?? DEFAULT_SQLITE_CACHE_BYTES) / 1024)}`);
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS tokens (
        digest TEXT PRIMARY KEY, type TEXT NOT NULL, issuer TEXT NOT NULL, subject TEXT NOT NULL,
        kind TEXT NOT NULL, account TEXT, instance TEXT, family TEXT,
        issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER, data TEXT, rotated TEXT
      );
      CREATE INDEX IF NOT EXISTS tokens_subject ON tokens(subject);
      CREATE INDEX IF NOT EXISTS tokens_family ON tokens(family);
      CREATE INDEX IF NOT EXISTS tokens_expires ON tokens(expires_at);
      CREATE TABLE IF NOT EXISTS revocation_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, digest TEXT NOT NULL, origin TEXT NOT NULL, logged_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS store_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS users (
        id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, password TEXT, email TEXT, app TEXT NOT NULL, key TEXT,
        anonymous INTEGER NOT NULL, display_name TEXT NOT NULL, extra TEXT, created_at INTEGER NOT NULL,
        UNIQUE (app, key)
      );
      CREATE TABLE IF NOT EXISTS inventory (
        scheme TEXT NOT NULL, dialect TEXT NOT NULL, subject TEXT NOT NULL, kind TEXT NOT NULL,
        account TEXT NOT NULL, instance TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
        count INTEGER NOT NULL, user_agent TEXT, address TEXT,
        PRIMARY KEY (scheme, dialect, subject, kind, account, instance)
      );
      CREATE INDEX IF NOT EXISTS inventory_last_seen ON inventory(last_seen);
    `);
    // Files created before the refresh grace window existed lack the `rotated` column.
    const columns = (this.#db.prepare('PRAGMA table_info(tokens)').all() as { name: string }[]).map((c) => c.name);
    if (!columns.includes('rotated')) this.#db.exec('ALTER TABLE tokens ADD COLUMN rotated TEXT');
    this.#stmts = {
      put: this.#db.prepare(`INSERT OR REPLACE INTO tokens VALUES
        (@digest, @type, @issuer, @subject, @kind, @account, @instance, @family, @issued_at, @expires_at, @revoked_at, @data, @rotated)`),
      rotate: this.#db.prepare('UPDATE tokens SET revoked_at = ?, rotated = ? WHERE digest = ? AND revoked_at IS NULL'),
      family: this.#db.prepare('SELECT digest FROM tokens WHERE family = ? AND revoked_at IS NULL'),
      get: this.#db.prepare('SELECT * FROM tokens WHERE digest = ?'),
      revoke: this.#db.prepare('UPDATE tokens SET revoked_at = ? WHERE digest = ? AND revoked_at IS NULL'),
      list: this.#db.prepare('SELECT * FROM tokens WHERE (@subject IS NULL OR subject = @subject) ORDER BY issued_at DESC LIMIT @limit'),
      purge: this.#db.prepare('DELETE FROM tokens WHERE expires_at < ?'),
      ping: this.#db.prepare('SELECT 1'),
      log: this.#db.prepare('INSERT INTO revocation_log (digest, origin, logged_at) VALUES (?, ?, ?)'),
      logSince: this.#db.prepare('SELECT seq, digest, origin FROM revocation_log WHERE seq > ? ORDER BY seq LIMIT 10000'),
      logMax: this.#db.prepare('SELECT COALESCE(MAX(seq), 0) AS seq FROM revocation_log'),
      logPrunable: this.#db.prepare('SELECT MAX(seq) AS seq FROM revocation_log WHERE logged_at < ?'),
      logPrune: this.#db.prepare('DELETE FROM revocation_log WHERE seq <= ?'),
      prunedGet: this.#db.prepare("SELECT v FROM store_meta WHERE k = 'revocation_log_pruned_through'"),
      prunedSet: this.#db.prepare(`INSERT INTO store_meta (k, v) VALUES ('revocation_log_pruned_through', @v)
        ON CONFLICT (k) DO UPDATE SET v = MAX(v, @v)`),
      userPut: this.#db.prepare(`INSERT INTO users VALUES
        (@id, @username, @password, @email, @app, @key, @anonymous, @display_name, @extra, @created_at)`),
      userGet: this.#db.prepare('SELECT * FROM users WHERE id = ?'),
      userByName: this.#db.prepare('SELECT * FROM users WHERE username = ?'),
      userByKey: this.#db.prepare('SELECT * FROM users WHERE app = ? AND key = ?'),
      userDelete: this.#db.prepare('DELETE FROM users WHERE id = ?'),
      subjectLive: this.#db.prepare('SELECT digest FROM tokens WHERE subject = ? AND revoked_at IS NULL'),
      // Columns on the right of SET are the old row's: user agent and address follow the later sighting.
      inventoryMerge: this.#db.prepare(`INSERT INTO inventory VALUES
        (@scheme, @dialect, @subject, @kind, @account, @instance, @first_seen, @last_seen, @count, @user_agent, @address)
        ON CONFLICT (scheme, dialect, subject, kind, account, instance) DO UPDATE SET
          first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen),
          count = count + excluded.count,
          user_agent = CASE WHEN excluded.last_seen >= last_seen THEN excluded.user_agent ELSE user_agent END,
          address = CASE WHEN excluded.last_seen >= last_seen THEN excluded.address ELSE address END`),
      inventoryList: this.#db.prepare(`SELECT * FROM inventory WHERE (@scheme IS NULL OR scheme = @scheme)
        AND (@kind IS NULL OR kind = @kind) AND (@account IS NULL OR account = @account) AND last_seen >= @since
        ORDER BY last_seen DESC, scheme, subject LIMIT @limit`),
      inventoryClients: this.#db.prepare(`SELECT scheme, COUNT(*) AS n FROM
        (SELECT DISTINCT scheme, subject, kind, account, instance FROM inventory WHERE last_seen >= ?) GROUP BY scheme`),
      inventoryPrune: this.#db.prepare('DELETE FROM inventory WHERE last_seen < ?'),
      begin: this.#db.prepare('BEGIN IMMEDIATE'),
      commit: this.#db.prepare('COMMIT'),
      rollback: this.#db.prepare('ROLLBACK'),
    } satisfies Record<string, Statement>;
  }

  /** The page cache this connection may fill, in bytes (as SQLite reports it back). */
  get cacheBytes(): number {
    const { cache_size: size } = this.#db.prepare('PRAGMA cache_size').get() as { cache_size: number };
    return size < 0 ? -size * 1024 : size * (this.#db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size;
  }

  async ping(): Promise<void> {
    this.#stmts.ping.get();
  }

  async putToken(rec: TokenRecord): Promise<void> {
    this.#stmts.put.run({
      digest: rec.digest, type: rec.type, issuer: rec.issuer, subject: rec.subject, kind: rec.kind,
      account: rec.account ?? null, instance: rec.instance ?? null, family: rec.family ?? null,
      issued_at: rec.issuedAt, expires_at: rec.expiresAt, revoked_at: rec.revokedAt ?? null,
      data: rec.data === undefined ? null : JSON.stringify(rec.data),
      rotated: rec.rotated ?? null,
    });
  }

  async getToken(digest: string): Promise<TokenRecord | undefined> {
    const row = this.#stmts.get.get(digest) as Row | undefined;
    return row && fromRow(row);
  }

  async revokeTokens(digests: readonly string[], at: number): Promise<number> {
    const n = this.#write(() => digests.reduce((count, d) => {
      const changed = Number(this.#stmts.revoke.run(at, d).changes);
      if (changed > 0) this.#stmts.log.run(d, this.#origin, Date.now());
      return count + changed;
    }, 0));
    this.#emit({ type: 'revoked', digests });
    return n;
  }

  async rotateToken(digest: string, at: number, rotated: string): Promise<boolean> {
    return Number(this.#stmts.rotate.run(at, rotated, digest).changes) === 1;
  }

  async revokeFamily(family: string, at: number): Promise<string[]> {
    const digests = this.#write(() => {
      const live = (this.#stmts.family.all(family) as { digest: string }[]).map((r) => r.digest);
      for (const d of live) {
        this.#stmts.revoke.run(at, d);
        this.#stmts.log.run(d, this.#origin, Date.now());
      }
      return live;
    });
    if (digests.length > 0) this.#emit({ type: 'revoked', digests });
    return digests;
  }

  async listTokens(filter: { subject?: string; limit: number }): Promise<TokenRecord[]> {
    return (this.#stmts.list.all({ subject: filter.subject ?? null, limit: filter.limit }) as Row[]).map(fromRow);
  }

  async purgeExpired(before: number): Promise<number> {
    this.#pruneLog();
    return Number(this.#stmts.purge.run(before).changes);
  }

  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    if (this.#poll === undefined && this.path !== ':memory:' && this.#open) {
      // Only what is revoked from now on matters: whatever was revoked before was never cached here.
      this.#lastSeq = (this.#stmts.logMax.get() as { seq: number }).seq;
      this.#poll = setInterval(() => this.#pollLog(), this.#pollMs);
      this.#poll.unref();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#poll !== undefined) { clearInterval(this.#poll); this.#poll = undefined; }
    };
  }

  /** Turns other processes' revocation-log rows into `revoked` events (see the file comment). */
  #pollLog(): void {
    if (!this.#open) return;
    try {
      const pruned = (this.#stmts.prunedGet.get() as { v: number } | undefined)?.v ?? 0;
      if (pruned > this.#lastSeq) {
        // Rows this process never saw were pruned (it was suspended for longer than the log keeps them).
        this.#lastSeq = (this.#stmts.logMax.get() as { seq: number }).seq;
        this.#emit({ type: 'resync' });
        return;
      }
      const rows = this.#stmts.logSince.all(this.#lastSeq) as { seq: number; digest: string; origin: string }[];
      if (rows.length > 0) {
        this.#lastSeq = rows[rows.length - 1]!.seq;
        const digests = rows.filter((r) => r.origin !== this.#origin).map((r) => r.digest);
        if (digests.length > 0) this.#emit({ type: 'revoked', digests });
      }
      if (++this.#polls % 60 === 0) this.#pruneLog();
    } catch {
      // Busy or briefly unreadable: the next poll reads the same rows.
    }
  }

  #pruneLog(): void {
    const through = (this.#stmts.logPrunable.get(Date.now() - REVOCATION_LOG_KEEP_MS) as { seq: number | null }).seq;
    if (through === null) return;
    this.#write(() => {
      this.#stmts.logPrune.run(through);
      this.#stmts.prunedSet.run({ v: through });
    });
  }

  async createUser(u: StoredUser): Promise<CreateUserResult> {
    // The write lock is taken before the checks, so another process cannot insert in between.
    return this.#write((): CreateUserResult => {
      if (this.#stmts.userByName.get(u.username) !== undefined) return 'duplicate_username';
      if (u.key !== undefined && this.#stmts.userByKey.get(u.app, u.key) !== undefined) return 'duplicate_key';
      if (this.#stmts.userGet.get(u.id) !== undefined) return 'duplicate_id';
      this.#stmts.userPut.run({
        id: u.id, username: u.username, password: u.password ?? null, email: u.email ?? null, app: u.app, key: u.key ?? null,
        anonymous: u.anonymous ? 1 : 0, display_name: u.displayName, extra: u.extra === undefined ? null : JSON.stringify(u.extra),
        created_at: u.createdAt,
      });
      return 'created';
    });
  }

  async getUser(id: string): Promise<StoredUser | undefined> {
    const row = this.#stmts.userGet.get(id) as UserRow | undefined;
    return row && userFromRow(row);
  }

  async getUserByUsername(username: string): Promise<StoredUser | undefined> {
    const row = this.#stmts.userByName.get(username) as UserRow | undefined;
    return row && userFromRow(row);
  }

  async getUserByKey(app: string, key: string): Promise<StoredUser | undefined> {
    const row = this.#stmts.userByKey.get(app, key) as UserRow | undefined;
    return row && userFromRow(row);
  }

  async deleteUser(id: string, at: number): Promise<string[] | undefined> {
    const digests = this.#write((): string[] | undefined => {
      if (this.#stmts.userDelete.run(id).changes === 0) return undefined;
      const live = (this.#stmts.subjectLive.all(id) as { digest: string }[]).map((r) => r.digest);
      for (const d of live) {
        this.#stmts.revoke.run(at, d);
        this.#stmts.log.run(d, this.#origin, Date.now());
      }
      return live;
    });
    if (digests !== undefined && digests.length > 0) this.#emit({ type: 'revoked', digests });
    return digests;
  }

  async recordInventory(updates: readonly InventoryRecord[]): Promise<void> {
    if (updates.length === 0) return;
    this.#write(() => {
      for (const u of updates) {
        this.#stmts.inventoryMerge.run({
          scheme: u.scheme, dialect: u.dialect, subject: u.subject, kind: u.kind, account: u.account, instance: u.instance,
          first_seen: u.firstSeen, last_seen: u.lastSeen, count: u.count, user_agent: u.userAgent ?? null, address: u.address ?? null,
        });
      }
    });
  }

  async listInventory(f: InventoryFilter): Promise<InventoryRecord[]> {
    const rows = this.#stmts.inventoryList.all({
      scheme: f.scheme ?? null, kind: f.kind ?? null, account: f.account ?? null, since: f.seenSince ?? 0, limit: f.limit,
    }) as InventoryRow[];
    return rows.map(inventoryFromRow);
  }

  async countInventoryClients(since: number): Promise<Map<string, number>> {
    const rows = this.#stmts.inventoryClients.all(since) as { scheme: string; n: number }[];
    return new Map(rows.map((r) => [r.scheme, Number(r.n)]));
  }

  async pruneInventory(before: number): Promise<number> {
    return Number(this.#stmts.inventoryPrune.run(before).changes);
  }

  /**
   * Runs `fn` in one transaction that takes the write lock at BEGIN (IMMEDIATE): waiting for another process's
   * writer falls under the busy timeout, which a read-then-write transaction upgrading its lock would not get.
   */
  #write<T>(fn: () => T): T {
    this.#stmts.begin.run();
    try {
      const result = fn();
      this.#stmts.commit.run();
      return result;
    } catch (err) {
      try {
        this.#stmts.rollback.run();
      } catch {
        // SQLite already rolled back (it does on some errors, e.g. a full disk): nothing is left open.
      }
      throw err;
    }
  }

  #emit(e: StoreEvent): void {
    for (const l of this.#listeners) l(e);
  }

  async close(): Promise<void> {
    if (this.#poll !== undefined) { clearInterval(this.#poll); this.#poll = undefined; }
    if (this.#open) { this.#open = false; this.#db.close(); }
  }
}

type InventoryRow = {
  scheme: string; dialect: string; subject: string; kind: string; account: string; instance: string;
  first_seen: number; last_seen: number; count: number; user_agent: string | null; address: string | null;
};

function inventoryFromRow(r: InventoryRow): InventoryRecord {
  return {
    scheme: r.scheme, dialect: r.dialect, subject: r.subject, kind: r.kind, account: r.account, instance: r.instance,
    firstSeen: Number(r.first_seen), lastSeen: Number(r.last_seen), count: Number(r.count),
    ...(r.user_agent !== null ? { userAgent: r.user_agent } : {}),
    ...(r.address !== null ? { address: r.address } : {}),
  };
}

function userFromRow(r: UserRow): StoredUser {
  return {
    id: r.id, username: r.username, app: r.app, anonymous: r.anonymous === 1, displayName: r.display_name, createdAt: r.created_at,
    ...(r.password !== null ? { password: r.password } : {}),
    ...(r.email !== null ? { email: r.email } : {}),
    ...(r.key !== null ? { key: r.key } : {}),
    ...(r.extra !== null ? { extra: JSON.parse(r.extra) as Record<string, unknown> } : {}),
  };
}

function fromRow(r: Row): TokenRecord {
  return {
    digest: r.digest, type: r.type, issuer: r.issuer, subject: r.subject, kind: r.kind,
    issuedAt: r.issued_at, expiresAt: r.expires_at,
    ...(r.account !== null ? { account: r.account } : {}),
    ...(r.instance !== null ? { instance: r.instance } : {}),
    ...(r.family !== null ? { family: r.family } : {}),
    ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
    ...(r.data !== null ? { data: JSON.parse(r.data) as Record<string, unknown> } : {}),
    ...(r.rotated !== null ? { rotated: r.rotated } : {}),
  };
}
