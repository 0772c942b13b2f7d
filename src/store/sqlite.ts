/**
 * The embedded default store: one SQLite file (better-sqlite3, WAL). Writes are committed before the
 * response that depends on them is sent, so a killed process loses nothing it has acknowledged.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Store, StoreEvent, TokenRecord } from './types.js';

interface Row {
  digest: string; type: string; issuer: string; subject: string; kind: string;
  account: string | null; instance: string | null; family: string | null;
  issued_at: number; expires_at: number; revoked_at: number | null; data: string | null; rotated: string | null;
}

export class SqliteStore implements Store {
  readonly engine = 'sqlite';
  readonly #db: Database.Database;
  readonly #listeners = new Set<(e: StoreEvent) => void>();
  readonly #stmts;

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode survives a process crash (SIGKILL); only an OS crash can lose the last commits.
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS tokens (
        digest TEXT PRIMARY KEY, type TEXT NOT NULL, issuer TEXT NOT NULL, subject TEXT NOT NULL,
        kind TEXT NOT NULL, account TEXT, instance TEXT, family TEXT,
        issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER, data TEXT, rotated TEXT
      );
      CREATE INDEX IF NOT EXISTS tokens_subject ON tokens(subject);
      CREATE INDEX IF NOT EXISTS tokens_family ON tokens(family);
      CREATE INDEX IF NOT EXISTS tokens_expires ON tokens(expires_at);
    `);
    // Files created before the refresh grace window existed lack the `rotated` column.
    const columns = (this.#db.pragma('table_info(tokens)') as { name: string }[]).map((c) => c.name);
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
    };
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
    const tx = this.#db.transaction((ds: readonly string[]) => ds.reduce((n, d) => n + this.#stmts.revoke.run(at, d).changes, 0));
    const n = tx(digests);
    this.#emit({ type: 'revoked', digests });
    return n;
  }

  async rotateToken(digest: string, at: number, rotated: string): Promise<boolean> {
    return this.#stmts.rotate.run(at, rotated, digest).changes === 1;
  }

  async revokeFamily(family: string, at: number): Promise<string[]> {
    const tx = this.#db.transaction(() => {
      const digests = (this.#stmts.family.all(family) as { digest: string }[]).map((r) => r.digest);
      for (const d of digests) this.#stmts.revoke.run(at, d);
      return digests;
    });
    const digests = tx();
    if (digests.length > 0) this.#emit({ type: 'revoked', digests });
    return digests;
  }

  async listTokens(filter: { subject?: string; limit: number }): Promise<TokenRecord[]> {
    return (this.#stmts.list.all({ subject: filter.subject ?? null, limit: filter.limit }) as Row[]).map(fromRow);
  }

  async purgeExpired(before: number): Promise<number> {
    return this.#stmts.purge.run(before).changes;
  }

  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(e: StoreEvent): void {
    for (const l of this.#listeners) l(e);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
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
