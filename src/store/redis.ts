/**
 * The store for several replicas: one Redis (standalone, a Sentinel-managed master, or a Redis Cluster) shared by
 * every trackgate. Layout, under `store.redis.keyPrefix` (`tg:`; on a cluster each key carries a hash tag, the
 * subject's for its tokens, plus locator keys that find that tag from a digest: see redis-keys.ts):
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
 * and a revocation publishes its event from inside the same script. On a cluster a script touches one slot: a
 * subject's tokens, families and index; a batch over several subjects is one script per subject.
 *
 * Unreachable Redis: nothing is queued offline, a command waits at most `store.redis.commandTimeoutMs`, and a
 * command caught by a dropped connection fails instead of being re-sent (redis-client.ts). Every failure surfaces
 * as `TG_ERR_STORE_UNAVAILABLE` (503). With `waitReplicas` > 0 a write is answered only once that many replicas
 * hold it (WAIT), so a failover cannot take back a token a client was given.
 *
 * Events: a second connection, in subscriber mode, turns other replicas' messages into local `revoked` events
 * (on a cluster it is a connection to any one node, moved to another when that node goes away).
 * While it is down messages are lost, so after it subscribes again it emits `resync` (listeners drop whatever
 * they derived from the store). Each `revoked` event is delivered a second time {@link REEMIT_MS} later: a
 * verification that read the token just before the revocation may cache its verdict just after the first one.
 */
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { RedisNode } from '../config/redis-url.js';
import { TrackgateError } from '../errors.js';
import { createRedisClient, type RedisClient } from './redis-client.js';
import { nodeName, type RedisConnection } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';
import { RedisInventory } from './redis-inventory.js';
import { Script } from './redis-script.js';

export { Script } from './redis-script.js';
import type { CreateUserResult, InventoryFilter, InventoryRecord, Store, StoreEvent, StoredUser, TokenRecord } from './types.js';

/** How long a token's record is kept past its expiry (≥ the longest `issue.refreshGraceSeconds`, 300 s). */
export const RETAIN_AFTER_EXPIRY_MS = 60 * 60_000;
/** Newest tokens per subject kept in its listing index (older ones stay valid, just unlisted). */
export const MAX_LISTED_PER_SUBJECT = 1000;
/** Delay of the second delivery of a `revoked` event. */
export const REEMIT_MS = 250;
/** Retry-After of a 503 for an unavailable Redis. */
export const RETRY_AFTER_SECONDS = 1;
/** Reconnect attempts of a cluster's event subscriber before it moves to another node. */
const SUBSCRIBER_ATTEMPTS_PER_NODE = 2;

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

/** Cluster: KEYS[1] a locator; ARGV: the tag, keep-until (ms). Never shortens the locator's life. */
const LOCATE = new Script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = redis.call('PTTL', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1])
if ttl >= 0 and now + ttl > tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ttl) else redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return 1
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
 * KEYS: the user, its username index, its key index (the user key again when it has none). ARGV: the user JSON as
 * read. Deletes the user if it is still that JSON: 1, else 0.
 */
const DELETE_USER = new Script(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
`);

/** KEYS[1]: a subject index; ARGV: at, token key prefix, channel, origin. Revokes its live tokens: their digests. */
const REVOKE_SUBJECT = new Script(`
local out = {}
for _, d in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local k = ARGV[2] .. d
  if redis.call('EXISTS', k) == 1 and redis.call('HEXISTS', k, 'revokedAt') == 0 then
    redis.call('HSET', k, 'revokedAt', ARGV[1])
    out[#out + 1] = d
  end
end
if #out > 0 then
  redis.call('PUBLISH', ARGV[3], cjson.encode({ type = 'revoked', digests = out, origin = ARGV[4] }))
end
return out
`);

export class RedisStore implements Store {
  readonly engine = 'redis';
  /** The command connection (shared with the Redis throttle and nonce store). */
  readonly redis: RedisClient;
  readonly keys: RedisKeys;
  readonly connection: RedisConnection;
  readonly #inventory: RedisInventory;
  #sub: RedisClient;
  /** Cluster: the node the subscriber tries next. */
  #subNode = 0;
  /** Tells this replica's own messages apart on the channel. */
  readonly #origin = randomUUID();
  readonly #listeners = new Set<(e: StoreEvent) => void>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #subscribed = false;
  #everSubscribed = false;
  #closed = false;
  #lastError: string | undefined;
  /** Where the command connection last found its master (sentinel, standalone), to count switches. */
  #master: string | undefined;
  #failovers = 0;

  /** Connects at once, in the background (see {@link waitReady}). */
  constructor(conn: RedisConnection) {
    this.connection = conn;
    this.keys = new RedisKeys(conn.keyPrefix, conn.mode === 'cluster');
    this.redis = createRedisClient(conn, { name: 'trackgate' });
    this.redis.on('error', (err: Error) => { this.#lastError = err.message; });
    this.redis.on('ready', () => this.#sawMaster());
    this.#inventory = new RedisInventory(this.redis, this.keys);
    this.#sub = this.#subscriber();
  }

  /** Master switches seen by this store's command connection since it started (a failover, or a restart elsewhere). */
  get failovers(): number { return this.#failovers; }

  /** The subscriber connection; on a cluster a plain connection to one node, replaced when that node is gone. */
  #subscriber(): RedisClient {
    const cluster = this.redis instanceof Cluster;
    const node = cluster ? this.#nextNode() : undefined;
    const sub = createRedisClient(this.connection, {
      name: 'trackgate-events', ...(node !== undefined ? { node, maxReconnects: SUBSCRIBER_ATTEMPTS_PER_NODE } : {}),
    });
    sub.on('error', (err: Error) => { this.#lastError = err.message; });
    sub.on('ready', () => this.#listen(sub));
    sub.on('close', () => { this.#subscribed = false; });
    sub.on('message', (_channel: string, message: string) => this.#onMessage(message));
    if (cluster) sub.once('end', () => { if (!this.#closed) this.#sub = this.#subscriber(); });
    return sub;
  }

  /** Cluster: the seed nodes and every node the cluster told us of, in turn (PUBLISH reaches each of them). */
  #nextNode(): RedisNode {
    const known = new Map<string, RedisNode>();
    for (const n of this.connection.nodes) known.set(nodeName(n), n);
    if (this.redis instanceof Cluster) {
      for (const c of this.redis.nodes('all')) {
        const { host, port } = c.options;
        if (host !== undefined && port !== undefined) known.set(nodeName({ host, port }), { host, port });
      }
    }
    const list = [...known.values()];
    return list[this.#subNode++ % list.length]!;
  }

  #sawMaster(): void {
    if (this.redis instanceof Cluster) return;
    const s = this.redis.stream;
    const at = s?.remoteAddress !== undefined ? `${s.remoteAddress}:${s.remotePort}` : undefined;
    if (at === undefined) return;
    if (this.#master !== undefined && this.#master !== at) this.#failovers++;
    this.#master = at;
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

  /**
   * `waitReplicas` > 0: resolves once that many replicas hold this connection's writes so far (WAIT), else fails
   * as unavailable. On a cluster WAIT goes, with a keyed no-op, to the node of each slot written (`written`: one
   * key of each).
   */
  async #acknowledged(written: readonly string[]): Promise<void> {
    const { waitReplicas: want, waitTimeoutMs: ms } = this.connection;
    if (want === 0) return;
    const redis = this.redis;
    const counts = redis instanceof Cluster
      ? await Promise.all([...new Set(written)].map(async (key) => {
        const replies = await redis.pipeline().exists(key).wait(want, ms).exec();
        const [err, n] = replies?.[1] ?? [new Error('no reply to WAIT'), 0];
        if (err) throw err;
        return Number(n);
      }))
      : [await redis.wait(want, ms)];
    const got = Math.min(...counts);
    if (got < want) throw new Error(`write acknowledged by ${got} of ${want} replicas within ${ms} ms`);
  }

  /** The tag a digest's record is under: its locator's on a cluster (the directory's when it has none). */
  async #tagOf(digest: string): Promise<string> {
    if (!this.keys.cluster) return this.keys.directory;
    return (await this.redis.get(this.keys.tokenLocator(digest))) ?? this.keys.directory;
  }

  async #familyTag(family: string): Promise<string> {
    if (!this.keys.cluster) return this.keys.directory;
    return (await this.redis.get(this.keys.familyLocator(family))) ?? this.keys.directory;
  }

  /** `digests` grouped by the tag their records are under. */
  async #byTag(digests: readonly string[]): Promise<Map<string, string[]>> {
    const tags = await Promise.all(digests.map((d) => this.#tagOf(d)));
    const out = new Map<string, string[]>();
    digests.forEach((d, i) => {
      const list = out.get(tags[i]!);
      if (list === undefined) out.set(tags[i]!, [d]);
      else list.push(d);
    });
    return out;
  }

  async ping(): Promise<void> {
    // A replica that cannot hear revocations must not take traffic either.
    if (!this.#subscribed) throw unavailable(new Error(`event subscription down${this.#lastError ? ` (${this.#lastError})` : ''}`));
    await this.#call(() => this.redis.ping());
  }

  async putToken(rec: TokenRecord): Promise<void> {
    await this.putTokens([rec]);
  }

  /** Writes several tokens at once, all or none (an access + refresh pair; on a cluster, per subject). */
  async putTokens(recs: readonly TokenRecord[]): Promise<void> {
    if (recs.length === 0) return;
    const bySubject = new Map<string, TokenRecord[]>();
    for (const rec of recs) bySubject.set(rec.subject, [...(bySubject.get(rec.subject) ?? []), rec]);
    await this.#call(() => Promise.all([...bySubject].map(([subject, group]) => this.#put(subject, group))));
  }

  /** One subject's records: their locators first (a record is never written without one), then one script. */
  async #put(subject: string, recs: readonly TokenRecord[]): Promise<void> {
    const tag = this.keys.subjectTag(subject);
    const index = this.keys.subject(tag, subject);
    const keys: string[] = [];
    const args: string[] = [String(MAX_LISTED_PER_SUBJECT)];
    const locators = new Map<string, number>();
    for (const rec of recs) {
      const tok = this.keys.token(tag, rec.digest);
      const keep = rec.expiresAt + RETAIN_AFTER_EXPIRY_MS;
      keys.push(tok, index, rec.family !== undefined ? this.keys.family(tag, rec.family) : tok);
      args.push(JSON.stringify({ d: rec.digest, keep: String(keep), iat: String(rec.issuedAt), fam: rec.family !== undefined, h: toHash(rec) }));
      if (this.keys.cluster) {
        locators.set(this.keys.tokenLocator(rec.digest), keep);
        if (rec.family !== undefined) {
          const at = this.keys.familyLocator(rec.family);
          locators.set(at, Math.max(keep, locators.get(at) ?? 0));
        }
      }
    }
    await Promise.all([...locators].map(([key, keep]) => LOCATE.run(this.redis, [key], [tag, String(keep)])));
    await PUT.run(this.redis, keys, args);
    await this.#acknowledged([index, ...locators.keys()]);
  }

  async getToken(digest: string): Promise<TokenRecord | undefined> {
    const h = await this.#call(async () => this.redis.hgetall(this.keys.token(await this.#tagOf(digest), digest)));
    return fromHash(h);
  }

  async revokeTokens(digests: readonly string[], at: number): Promise<number> {
    const n = await this.#call(async () => {
      const groups = await this.#byTag(digests);
      const live = await Promise.all([...groups].map(([tag, group]) => {
        const message = JSON.stringify({ type: 'revoked', digests: group, origin: this.#origin });
        return REVOKE.run(this.redis, group.map((d) => this.keys.token(tag, d)), [String(at), this.keys.events, message]);
      }));
      await this.#acknowledged([...groups].map(([tag]) => this.keys.token(tag, '')));
      return live.reduce<number>((sum, k) => sum + Number(k), 0);
    });
    this.#revoked(digests);
    return n;
  }

  async rotateToken(digest: string, at: number, rotated: string): Promise<boolean> {
    return Number(await this.#call(async () => {
      const key = this.keys.token(await this.#tagOf(digest), digest);
      const won = await ROTATE.run(this.redis, [key], [String(at), rotated]);
      await this.#acknowledged([key]);
      return won;
    })) === 1;
  }

  async revokeFamily(family: string, at: number): Promise<string[]> {
    const out = await this.#call(async () => {
      const tag = await this.#familyTag(family);
      const key = this.keys.family(tag, family);
      const revoked = await REVOKE_FAMILY.run(this.redis, [key], [String(at), this.keys.tokenPrefix(tag), this.keys.events, this.#origin]);
      await this.#acknowledged([key]);
      return revoked;
    });
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
    const lists = await Promise.all(this.#subjectTags(subject).map((tag) => this.#listIndex(tag, subject, limit)));
    return lists.flat().sort((a, b) => b.issuedAt - a.issuedAt).slice(0, limit);
  }

  /** Where a subject's index may be: its tag, and on a cluster the one-slot layout's too. */
  #subjectTags(subject: string): string[] {
    const tag = this.keys.subjectTag(subject);
    return tag === this.keys.directory ? [tag] : [tag, this.keys.directory];
  }

  async #listIndex(tag: string, subject: string, limit: number): Promise<TokenRecord[]> {
    const index = this.keys.subject(tag, subject);
    const out: TokenRecord[] = [];
    const gone: string[] = [];
    for (let start = 0; out.length < limit;) {
      const digests = await this.redis.zrevrange(index, start, start + (limit - out.length) - 1);
      if (digests.length === 0) break;
      start += digests.length;
      const recs = await this.#getMany(digests.map((d) => this.keys.token(tag, d)));
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
    // A cluster's keys are spread over its masters: each is scanned.
    const servers = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
    for (const server of servers) {
      for (const pattern of this.keys.tokenPatterns) {
        let cursor = '0';
        do {
          const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
          cursor = next;
          const recs = await this.#getMany(keys);
          yield recs.filter((r): r is TokenRecord => r !== undefined);
        } while (cursor !== '0');
      }
    }
  }

  /** The records under `keys` (token keys of any slots: one pipeline would need them on one). */
  async #getMany(keys: readonly string[]): Promise<(TokenRecord | undefined)[]> {
    return Promise.all(keys.map(async (k) => fromHash(await this.redis.hgetall(k))));
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
    const k = this.keys;
    const keys = [k.user(u.id), k.username(u.username), u.key !== undefined ? k.userKey(u.app, u.key) : k.user(u.id)];
    const out = await this.#call(async () => {
      const result = await CREATE_USER.run(this.redis, keys, [JSON.stringify(u), u.key !== undefined ? '1' : '0', u.id]);
      if (result === 'created') await this.#acknowledged([keys[0]!]);
      return result;
    });
    return String(out) as CreateUserResult;
  }

  async getUser(id: string): Promise<StoredUser | undefined> {
    const json = await this.#call(() => this.redis.get(this.keys.user(id)));
    return json === null ? undefined : JSON.parse(json) as StoredUser;
  }

  async getUserByUsername(username: string): Promise<StoredUser | undefined> {
    const id = await this.#call(() => this.redis.get(this.keys.username(username)));
    return id === null ? undefined : this.getUser(id);
  }

  async getUserByKey(app: string, key: string): Promise<StoredUser | undefined> {
    const id = await this.#call(() => this.redis.get(this.keys.userKey(app, key)));
    return id === null ? undefined : this.getUser(id);
  }

  /**
   * Revokes the user's tokens, deletes the user, and revokes again: each step one script on one slot (on a cluster
   * the user and its tokens are on different ones). A failure after the first step leaves the user to delete
   * again; a token written for the user meanwhile is caught by the second revocation (or by the issuer's own
   * check that the user still exists, as the Geoloqi dialect does).
   */
  async deleteUser(id: string, at: number): Promise<string[] | undefined> {
    const json = await this.#call(() => this.redis.get(this.keys.user(id)));
    if (json === null) return undefined;
    const u = JSON.parse(json) as StoredUser;
    const userKeys = [this.keys.user(id), this.keys.username(u.username), u.key !== undefined ? this.keys.userKey(u.app, u.key) : this.keys.user(id)];
    const digests = await this.#revokeSubject(id, at);
    const deleted = await this.#call(() => DELETE_USER.run(this.redis, userKeys, [json]));
    // 0: deleted meanwhile by another caller (which revokes the same tokens).
    if (Number(deleted) !== 1) return undefined;
    for (const d of await this.#revokeSubject(id, at)) if (!digests.includes(d)) digests.push(d);
    await this.#call(() => this.#acknowledged([...this.#subjectTags(id).map((tag) => this.keys.subject(tag, id)), userKeys[0]!]));
    // A full index may have dropped older tokens of the user: find those by a scan of every token (rare: a user
    // with that many tokens), as an operator's unfiltered listing does.
    const full = await this.#call(() => this.redis.zcard(this.keys.subject(this.keys.subjectTag(id), id)));
    if (full >= MAX_LISTED_PER_SUBJECT) {
      const unlisted = (await this.#call(() => this.#scanSubject(id))).filter((d) => !digests.includes(d));
      if (unlisted.length > 0) {
        await this.revokeTokens(unlisted, at);
        digests.push(...unlisted);
      }
    }
    return digests;
  }

  /** Revokes the live tokens in `subject`'s indexes, one script per slot: their digests. */
  async #revokeSubject(subject: string, at: number): Promise<string[]> {
    const out = await this.#call(() => Promise.all(this.#subjectTags(subject).map((tag) =>
      REVOKE_SUBJECT.run(this.redis, [this.keys.subject(tag, subject)], [String(at), this.keys.tokenPrefix(tag), this.keys.events, this.#origin]))));
    const digests = out.flatMap((r) => Array.isArray(r) ? r.map(String) : []);
    if (digests.length > 0) this.#revoked(digests);
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

  recordInventory(updates: readonly InventoryRecord[]): Promise<void> {
    return this.#call(() => this.#inventory.merge(updates));
  }

  listInventory(filter: InventoryFilter): Promise<InventoryRecord[]> {
    return this.#call(() => this.#inventory.list(filter));
  }

  countInventoryClients(since: number): Promise<Map<string, number>> {
    return this.#call(() => this.#inventory.countClients(since));
  }

  pruneInventory(before: number): Promise<number> {
    return this.#call(() => this.#inventory.prune(before));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#listeners.clear();
    await Promise.all([this.redis, this.#sub].map(async (c: RedisClient) => {
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

  #listen(sub: RedisClient): void {
    sub.subscribe(this.keys.events).then(() => {
      if (this.#closed || sub !== this.#sub) return;
      this.#subscribed = true;
      // Messages sent while we were not listening are lost: whatever was derived from the store may be stale.
      // Listeners drop their caches on it and read the store again, so it waits until commands can be answered:
      // the subscriber often reconnects before the command connection, and a cache dropped in between would turn
      // cached credentials into 503s.
      if (this.#everSubscribed) this.#whenCommandsReady(() => this.#emit({ type: 'resync' }));
      this.#everSubscribed = true;
    }, (err: Error) => {
      this.#lastError = err.message;
      // Reconnect and try again (the 'ready' handler subscribes).
      if (!this.#closed && sub instanceof Cluster === false) (sub as { disconnect(reconnect?: boolean): void }).disconnect(true);
    });
  }

  #whenCommandsReady(run: () => void): void {
    if (this.redis.status === 'ready') return run();
    this.redis.once('ready', () => { if (!this.#closed) run(); });
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

/**
 * A Redis failure as the 503 every Redis-backed check answers with (fail closed). Retry-After: a failover takes
 * a few seconds, a client that retries at once only adds load.
 */
export function unavailable(err: unknown): TrackgateError {
  if (err instanceof TrackgateError) return err;
  return new TrackgateError('TG_ERR_STORE_UNAVAILABLE', 'token store unavailable', {
    reason: 'unavailable', detail: `redis: ${err instanceof Error ? err.message : String(err)}`, cause: err,
    headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
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
