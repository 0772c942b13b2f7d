/**
 * The store for several replicas: one Redis (standalone or a Sentinel-managed primary; not Redis Cluster: the
 * scripts touch keys of several slots) shared by every trackgate. Layout, all under the `tg:` prefix:
 *
 * - `tg:tok:<digest>`  hash: one TokenRecord. Expires (PEXPIREAT) {@link RETAIN_AFTER_EXPIRY_MS} after the token
 *   does, so a spent refresh token's sealed pair outlives any refresh grace window and a late reuse is still seen.
 * - `tg:fam:<family>`  set of the digests of a refresh family; expires with its longest-kept member.
 * - `tg:sub:<subject>` sorted set of a subject's digests scored by issuedAt, the newest {@link MAX_LISTED_PER_SUBJECT}
 *   kept (operators' `listTokens`); members whose hash expired are dropped when met.
 * - `tg:user:<id>`     string: one StoredUser (JSON), created by a token endpoint; never expires, deleted by `deleteUser`.
 * - `tg:uname:<name>`  string: the id of the stored user with that username.
 * - `tg:ukey:<n>:<app>:<key>` string: the id of app's user with that de-duplication key (`n`: the app id's length).
 * - `tg:dnc:n:<nonce>`, `tg:dnc:since`: the Digest `nc` replay store (redis-nonce-counter.ts).
 * - `tg:events`        pub/sub channel: `{"type":"revoked","digests":[…],"origin":…}` on every revocation.
 *
 * Every write that touches several keys is one Lua script (atomic; a dropped connection never leaves half of it),
 * and a revocation publishes its event from inside the same script.
 *
 * Unreachable Redis: nothing is queued offline, a command waits at most {@link COMMAND_TIMEOUT_MS}, and a command
 * caught by a dropped connection fails instead of being re-sent (its outcome is unknown: re-sending a won
 * `rotateToken` would read as lost and the caller would kill its own refresh family). Every failure surfaces as
 * `TG_ERR_STORE_UNAVAILABLE` (503).
 *
 * Events: a second connection, in subscriber mode, turns other replicas' messages into local `revoked` events.
 * While it is down messages are lost, so after it subscribes again it emits `resync` (listeners drop whatever
 * they derived from the store). Each `revoked` event is delivered a second time {@link REEMIT_MS} later: a
 * verification that read the token just before the revocation may cache its verdict just after the first one.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { TrackgateError } from '../errors.js';
import type { CreateUserResult, Store, StoreEvent, StoredUser, TokenRecord } from './types.js';

const PREFIX = 'tg:';
const TOKEN = `${PREFIX}tok:`;
const FAMILY = `${PREFIX}fam:`;
const SUBJECT = `${PREFIX}sub:`;
const USER = `${PREFIX}user:`;
const USERNAME = `${PREFIX}uname:`;
const USERKEY = `${PREFIX}ukey:`;
const userKeyKey = (app: string, key: string): string => `${USERKEY}${app.length}:${app}:${key}`;
/** The pub/sub channel revocations travel on. */
export const EVENTS_CHANNEL = `${PREFIX}events`;

/** How long a token's record is kept past its expiry (≥ the longest `issue.refreshGraceSeconds`, 300 s). */
export const RETAIN_AFTER_EXPIRY_MS = 60 * 60_000;
/** Newest tokens per subject kept in its listing index (older ones stay valid, just unlisted). */
export const MAX_LISTED_PER_SUBJECT = 1000;
export const COMMAND_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 2000;
/** Delay of the second delivery of a `revoked` event. */
export const REEMIT_MS = 250;

const CLIENT_OPTIONS: RedisOptions = {
  connectionName: 'trackgate',
  connectTimeout: CONNECT_TIMEOUT_MS,
  commandTimeout: COMMAND_TIMEOUT_MS,
  // No offline queue, no retry of an in-flight command after a reconnect: fail now, let the caller answer 503.
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  // The subscriber resubscribes itself, to know when it is listening again (and emit `resync`).
  autoResubscribe: false,
  retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
};

/** A Lua script run by SHA, loaded on first NOSCRIPT (never re-run after any other failure). */
export class Script {
  readonly #sha: string;
  constructor(readonly source: string) {
    this.#sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.#sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT')) return redis.eval(this.source, keys.length, ...keys, ...args);
      throw err;
    }
  }
}

/**
 * KEYS: per record its hash, subject index and family set (the hash again when it has none).
 * ARGV[1]: MAX_LISTED_PER_SUBJECT; ARGV[1 + i]: record i as JSON {d, keep, iat, fam, h: [field, value, …]}.
 * A record whose keep-until time has passed replaces the old one by nothing.
 */
const PUT = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function extend(key, at, atText)
  local ttl = redis.call('PTTL', key)
  if ttl == -1 or (ttl >= 0 and now + ttl < at) then redis.call('PEXPIREAT', key, atText) end
end
local keepListed = tonumber(ARGV[1])
for i = 1, #ARGV - 1 do
  local r = cjson.decode(ARGV[i + 1])
  local tok, sub, fam = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local keep = tonumber(r.keep)
  redis.call('DEL', tok)
  if keep > now then
    redis.call('HSET', tok, unpack(r.h))
    redis.call('PEXPIREAT', tok, r.keep)
    redis.call('ZADD', sub, r.iat, r.d)
    redis.call('ZREMRANGEBYRANK', sub, 0, -(keepListed + 1))
    extend(sub, keep, r.keep)
    if r.fam then
      redis.call('SADD', fam, r.d)
      extend(fam, keep, r.keep)
    end
  end
end
return #ARGV - 1
`);

/** KEYS[1]: the token; ARGV: at, rotated. 1 for the one caller that spends a live token. */
const ROTATE = new Script(`
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'revokedAt') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'revokedAt', ARGV[1], 'rotated', ARGV[2])
return 1
`);

/** KEYS: the tokens; ARGV: at, channel, event JSON. Returns how many were live. */
const REVOKE = new Script(`
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 and redis.call('HEXISTS', k, 'revokedAt') == 0 then
    redis.call('HSET', k, 'revokedAt', ARGV[1])
    n = n + 1
  end
end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return n
`);

/** KEYS[1]: the family set; ARGV: at, token key prefix, channel, origin. Returns the digests it revoked. */
const REVOKE_FAMILY = new Script(`
local out = {}
for _, d in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local k = ARGV[2] .. d
  if redis.call('EXISTS', k) == 0 then
    redis.call('SREM', KEYS[1], d)
  elseif redis.call('HEXISTS', k, 'revokedAt') == 0 then
    redis.call('HSET', k, 'revokedAt', ARGV[1])
    out[#out + 1] = d
  end
end
if #out > 0 then
  redis.call('PUBLISH', ARGV[3], cjson.encode({ type = 'revoked', digests = out, origin = ARGV[4] }))
end
return out
`);

/**
 * KEYS: the user, its username index, its key index (the user key again when it has none).
 * ARGV: user JSON, '1' when it has a key, its id. The checks and writes are one atomic step.
 */
const CREATE_USER = new Script(`
if redis.call('EXISTS', KEYS[2]) == 1 then return 'duplicate_username' end
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then return 'duplicate_key' end
if redis.call('EXISTS', KEYS[1]) == 1 then return 'duplicate_id' end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[3])
if ARGV[2] == '1' then redis.call('SET', KEYS[3], ARGV[3]) end
return 'created'
`);

/**
 * KEYS: the user, its username index, its key index (the user key again when it has none), its subject index.
 * ARGV: the user JSON as read, at, token key prefix, channel, origin. Deletes the user if it is still that JSON
 * and revokes its live tokens: their digests, or false when the user was gone.
 */
const DELETE_USER = new Script(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
local out = {}
for _, d in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  local k = ARGV[3] .. d
  if redis.call('EXISTS', k) == 1 and redis.call('HEXISTS', k, 'revokedAt') == 0 then
    redis.call('HSET', k, 'revokedAt', ARGV[2])
    out[#out + 1] = d
  end
end
if #out > 0 then
  redis.call('PUBLISH', ARGV[4], cjson.encode({ type = 'revoked', digests = out, origin = ARGV[5] }))
end
return out
`);

export class RedisStore implements Store {
  readonly engine = 'redis';
  /** The command connection (shared with the Redis throttle). */
  readonly redis: Redis;
  readonly #sub: Redis;
  /** Tells this replica's own messages apart on the channel. */
  readonly #origin = randomUUID();
  readonly #listeners = new Set<(e: StoreEvent) => void>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #subscribed = false;
  #everSubscribed = false;
  #closed = false;
  #lastError: string | undefined;

  /** `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. Connects at once, in the background. */
  constructor(url: string) {
    this.redis = new Redis(url, CLIENT_OPTIONS);
    this.#sub = new Redis(url, { ...CLIENT_OPTIONS, connectionName: 'trackgate-events' });
    for (const c of [this.redis, this.#sub]) c.on('error', (err: Error) => { this.#lastError = err.message; });
    this.#sub.on('ready', () => this.#listen());
    this.#sub.on('close', () => { this.#subscribed = false; });
    this.#sub.on('message', (_channel: string, message: string) => this.#onMessage(message));
  }

  /** Resolves true once both connections are up and subscribed, false after `timeoutMs` (still retrying). */
  async waitReady(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#isReady()) {
      if (this.#closed || Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  #isReady(): boolean {
    return this.redis.status === 'ready' && this.#subscribed;
  }

  async ping(): Promise<void> {
    // A replica that cannot hear revocations must not take traffic either.
    if (!this.#subscribed) throw unavailable(new Error(`event subscription down${this.#lastError ? ` (${this.#lastError})` : ''}`));
    await this.#call(() => this.redis.ping());
  }

  async putToken(rec: TokenRecord): Promise<void> {
    await this.putTokens([rec]);
  }

  /** Writes several tokens at once, all or none (an access + refresh pair). */
  async putTokens(recs: readonly TokenRecord[]): Promise<void> {
    if (recs.length === 0) return;
    const keys: string[] = [];
    const args: string[] = [String(MAX_LISTED_PER_SUBJECT)];
    for (const rec of recs) {
      const tok = TOKEN + rec.digest;
      keys.push(tok, SUBJECT + rec.subject, rec.family !== undefined ? FAMILY + rec.family : tok);
      args.push(JSON.stringify({
        d: rec.digest, keep: String(rec.expiresAt + RETAIN_AFTER_EXPIRY_MS), iat: String(rec.issuedAt),
        fam: rec.family !== undefined, h: toHash(rec),
      }));
    }
    await this.#call(() => PUT.run(this.redis, keys, args));
  }

  async getToken(digest: string): Promise<TokenRecord | undefined> {
    const h = await this.#call(() => this.redis.hgetall(TOKEN + digest));
    return fromHash(h);
  }

  async revokeTokens(digests: readonly string[], at: number): Promise<number> {
    const message = JSON.stringify({ type: 'revoked', digests, origin: this.#origin });
    const n = await this.#call(() => REVOKE.run(this.redis, digests.map((d) => TOKEN + d), [String(at), EVENTS_CHANNEL, message]));
    this.#revoked(digests);
    return Number(n);
  }

  async rotateToken(digest: string, at: number, rotated: string): Promise<boolean> {
    return Number(await this.#call(() => ROTATE.run(this.redis, [TOKEN + digest], [String(at), rotated]))) === 1;
  }

  async revokeFamily(family: string, at: number): Promise<string[]> {
    const out = await this.#call(() => REVOKE_FAMILY.run(this.redis, [FAMILY + family], [String(at), TOKEN, EVENTS_CHANNEL, this.#origin]));
    const digests = Array.isArray(out) ? out.map(String) : [];
    if (digests.length > 0) this.#revoked(digests);
    return digests;
  }

  /**
   * Newest first. With a subject: its index (the newest {@link MAX_LISTED_PER_SUBJECT}). Without: a SCAN of every
   * token (an operator's command; O(all tokens) in Redis, O(limit) here).
   */
  async listTokens(filter: { subject?: string; limit: number }): Promise<TokenRecord[]> {
    if (filter.limit <= 0) return [];
    return this.#call(() => filter.subject === undefined ? this.#listAll(filter.limit) : this.#listSubject(filter.subject, filter.limit));
  }

  async #listSubject(subject: string, limit: number): Promise<TokenRecord[]> {
    const index = SUBJECT + subject;
    const out: TokenRecord[] = [];
    const gone: string[] = [];
    for (let start = 0; out.length < limit;) {
      const digests = await this.redis.zrevrange(index, start, start + (limit - out.length) - 1);
      if (digests.length === 0) break;
      start += digests.length;
      const recs = await this.#getMany(digests);
      recs.forEach((rec, i) => {
        if (rec === undefined) gone.push(digests[i]!);
        else if (rec.subject === subject) out.push(rec);
      });
    }
    if (gone.length > 0) await this.redis.zrem(index, ...gone);
    return out.slice(0, limit);
  }

  async #listAll(limit: number): Promise<TokenRecord[]> {
    let top: TokenRecord[] = [];
    for await (const recs of this.#everyToken()) {
      top = top.concat(recs).sort((a, b) => b.issuedAt - a.issuedAt).slice(0, limit);
    }
    return top;
  }

  /** Every token record, a SCAN batch at a time (O(all tokens): operators' commands and rare deletions only). */
  async *#everyToken(): AsyncGenerator<TokenRecord[]> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${TOKEN}*`, 'COUNT', 500);
      cursor = next;
      const recs = await this.#getMany(keys.map((k) => k.slice(TOKEN.length)));
      yield recs.filter((r): r is TokenRecord => r !== undefined);
    } while (cursor !== '0');
  }

  async #getMany(digests: readonly string[]): Promise<(TokenRecord | undefined)[]> {
    if (digests.length === 0) return [];
    const p = this.redis.pipeline();
    for (const d of digests) p.hgetall(TOKEN + d);
    const replies = (await p.exec()) ?? [];
    return replies.map(([err, h]) => {
      if (err) throw err;
      return fromHash(h as Record<string, string>);
    });
  }

  /** Redis expires records by itself ({@link RETAIN_AFTER_EXPIRY_MS} after the token); nothing to do. */
  async purgeExpired(_before: number): Promise<number> {
    return 0;
  }

  subscribe(listener: (e: StoreEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async createUser(u: StoredUser): Promise<CreateUserResult> {
    const keys = [USER + u.id, USERNAME + u.username, u.key !== undefined ? userKeyKey(u.app, u.key) : USER + u.id];
    const out = await this.#call(() => CREATE_USER.run(this.redis, keys, [JSON.stringify(u), u.key !== undefined ? '1' : '0', u.id]));
    return String(out) as CreateUserResult;
  }

  async getUser(id: string): Promise<StoredUser | undefined> {
    const json = await this.#call(() => this.redis.get(USER + id));
    return json === null ? undefined : JSON.parse(json) as StoredUser;
  }

  async getUserByUsername(username: string): Promise<StoredUser | undefined> {
    const id = await this.#call(() => this.redis.get(USERNAME + username));
    return id === null ? undefined : this.getUser(id);
  }

  async getUserByKey(app: string, key: string): Promise<StoredUser | undefined> {
    const id = await this.#call(() => this.redis.get(userKeyKey(app, key)));
    return id === null ? undefined : this.getUser(id);
  }

  async deleteUser(id: string, at: number): Promise<string[] | undefined> {
    const json = await this.#call(() => this.redis.get(USER + id));
    if (json === null) return undefined;
    const u = JSON.parse(json) as StoredUser;
    const keys = [USER + id, USERNAME + u.username, u.key !== undefined ? userKeyKey(u.app, u.key) : USER + id, SUBJECT + id];
    const out = await this.#call(() => DELETE_USER.run(this.redis, keys, [json, String(at), TOKEN, EVENTS_CHANNEL, this.#origin]));
    // null: deleted meanwhile by another caller.
    if (!Array.isArray(out)) return undefined;
    const digests = out.map(String);
    if (digests.length > 0) this.#revoked(digests);
    // A full index may have dropped older tokens of the user: find those by a scan of every token (rare: a user
    // with that many tokens), as an operator's unfiltered listing does.
    if (await this.#call(() => this.redis.zcard(SUBJECT + id)) >= MAX_LISTED_PER_SUBJECT) {
      const unlisted = (await this.#call(() => this.#scanSubject(id))).filter((d) => !digests.includes(d));
      if (unlisted.length > 0) {
        await this.revokeTokens(unlisted, at);
        digests.push(...unlisted);
      }
    }
    return digests;
  }

  /** The live tokens of `subject`, found by a SCAN of every token. */
  async #scanSubject(subject: string): Promise<string[]> {
    const out: string[] = [];
    for await (const recs of this.#everyToken()) {
      for (const rec of recs) if (rec.subject === subject && rec.revokedAt === undefined) out.push(rec.digest);
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#listeners.clear();
    await Promise.all([this.redis, this.#sub].map(async (c) => {
      if (c.status === 'ready') await c.quit().catch(() => c.disconnect());
      else c.disconnect();
    }));
  }

  async #call<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      throw unavailable(err);
    }
  }

  #listen(): void {
    this.#sub.subscribe(EVENTS_CHANNEL).then(() => {
      if (this.#closed) return;
      this.#subscribed = true;
      // Messages sent while we were not listening are lost: whatever was derived from the store may be stale.
      if (this.#everSubscribed) this.#emit({ type: 'resync' });
      this.#everSubscribed = true;
    }, (err: Error) => {
      this.#lastError = err.message;
      // Reconnect and try again (the 'ready' handler subscribes).
      if (!this.#closed) this.#sub.disconnect(true);
    });
  }

  #onMessage(message: string): void {
    let e: unknown;
    try {
      e = JSON.parse(message);
    } catch {
      return;
    }
    if (typeof e !== 'object' || e === null) return;
    const { type, digests, origin } = e as { type?: unknown; digests?: unknown; origin?: unknown };
    // Our own revocations were delivered locally when they were made.
    if (type !== 'revoked' || !Array.isArray(digests) || origin === this.#origin) return;
    this.#revoked(digests.filter((d): d is string => typeof d === 'string'));
  }

  #revoked(digests: readonly string[]): void {
    const e: StoreEvent = { type: 'revoked', digests };
    this.#emit(e);
    if (this.#closed) return;
    const t = setTimeout(() => { this.#timers.delete(t); this.#emit(e); }, REEMIT_MS);
    t.unref();
    this.#timers.add(t);
  }

  #emit(e: StoreEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch {
        // A listener's failure must not stop the others (nor the subscriber connection's parser).
      }
    }
  }
}

/** A Redis failure as the 503 every Redis-backed check answers with (fail closed). */
export function unavailable(err: unknown): TrackgateError {
  if (err instanceof TrackgateError) return err;
  return new TrackgateError('TG_ERR_STORE_UNAVAILABLE', 'token store unavailable', {
    reason: 'unavailable', detail: `redis: ${err instanceof Error ? err.message : String(err)}`, cause: err,
  });
}

function toHash(rec: TokenRecord): string[] {
  const h = ['digest', rec.digest, 'type', rec.type, 'issuer', rec.issuer, 'subject', rec.subject, 'kind', rec.kind,
    'issuedAt', String(rec.issuedAt), 'expiresAt', String(rec.expiresAt)];
  if (rec.account !== undefined) h.push('account', rec.account);
  if (rec.instance !== undefined) h.push('instance', rec.instance);
  if (rec.family !== undefined) h.push('family', rec.family);
  if (rec.revokedAt !== undefined) h.push('revokedAt', String(rec.revokedAt));
  if (rec.rotated !== undefined) h.push('rotated', rec.rotated);
  if (rec.data !== undefined) h.push('data', JSON.stringify(rec.data));
  return h;
}

function fromHash(h: Record<string, string> | null | undefined): TokenRecord | undefined {
  if (h === null || h === undefined || h.digest === undefined) return undefined;
  return {
    digest: h.digest, type: h.type ?? '', issuer: h.issuer ?? '', subject: h.subject ?? '', kind: h.kind ?? '',
    issuedAt: Number(h.issuedAt), expiresAt: Number(h.expiresAt),
    ...(h.account !== undefined ? { account: h.account } : {}),
    ...(h.instance !== undefined ? { instance: h.instance } : {}),
    ...(h.family !== undefined ? { family: h.family } : {}),
    ...(h.revokedAt !== undefined ? { revokedAt: Number(h.revokedAt) } : {}),
    ...(h.data !== undefined ? { data: JSON.parse(h.data) as Record<string, unknown> } : {}),
    ...(h.rotated !== undefined ? { rotated: h.rotated } : {}),
  };
}
