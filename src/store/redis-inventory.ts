/**
 * The inventory in Redis, shared by every replica (layout under the inventory's own prefix, redis-keys.ts):
 *
 * - `inv:r:<id>`        hash: one record (`id`: a digest of its key, so any replica names it alike);
 * - `inv:seen`          sorted set of record ids by last seen (listing newest first, pruning);
 * - `inv:c:<scheme>`    sorted set of a scheme's distinct clients by last seen (the clients-by-scheme gauge
 *                       counts a window with one ZCOUNT, not a pass over every record);
 * - `inv:schemes`       set of the schemes seen.
 *
 * A batch is merged by one script (atomic: batches from several replicas add up exactly).
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.js';
import type { RedisKeys } from './redis-keys.js';
import { Script } from './redis-script.js';
import type { InventoryFilter, InventoryKey, InventoryRecord } from './types.js';

/** Most records one prune script deletes (the rest on the next call), so one call never blocks Redis long. */
const PRUNE_BATCH = 5000;
/** Records read per pipeline when listing. */
const LIST_BATCH = 500;

/**
 * KEYS: the seen index, the schemes set. ARGV[1]: record key prefix, ARGV[2]: clients key prefix, ARGV[2 + i]:
 * update i as JSON (times and count as strings, read with tonumber, written back as given).
 */
const MERGE = new Script(`
for i = 3, #ARGV do
  local u = cjson.decode(ARGV[i])
  local k = ARGV[1] .. u.id
  local old = redis.call('HMGET', k, 'firstSeen', 'lastSeen')
  local first, last = u.first, u.last
  local newer = true
  if old[1] then
    if tonumber(old[1]) < tonumber(first) then first = old[1] end
    if tonumber(old[2]) > tonumber(last) then last = old[2]; newer = false end
  else
    redis.call('HSET', k, 'scheme', u.scheme, 'dialect', u.dialect, 'subject', u.subject, 'kind', u.kind,
      'account', u.account, 'instance', u.instance)
  end
  redis.call('HSET', k, 'firstSeen', first, 'lastSeen', last)
  redis.call('HINCRBY', k, 'count', u.count)
  if newer then
    if u.ua then redis.call('HSET', k, 'userAgent', u.ua) else redis.call('HDEL', k, 'userAgent') end
    if u.addr then redis.call('HSET', k, 'address', u.addr) else redis.call('HDEL', k, 'address') end
  end
  redis.call('ZADD', KEYS[1], last, u.id)
  local ck = ARGV[2] .. u.scheme
  local seen = redis.call('ZSCORE', ck, u.client)
  if not seen or tonumber(seen) < tonumber(last) then redis.call('ZADD', ck, last, u.client) end
  redis.call('SADD', KEYS[2], u.scheme)
end
return #ARGV - 2
`);

/**
 * KEYS: the seen index, the schemes set. ARGV: record key prefix, clients key prefix, before, batch size.
 * Deletes up to a batch of records last seen before `before`; returns how many.
 */
const PRUNE = new Script(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3], 'LIMIT', 0, tonumber(ARGV[4]))
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[1] .. id)
  redis.call('ZREM', KEYS[1], id)
end
for _, s in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('ZREMRANGEBYSCORE', ARGV[2] .. s, '-inf', '(' .. ARGV[3])
end
return #ids
`);

export class RedisInventory {
  constructor(private readonly redis: RedisClient, private readonly keys: RedisKeys) {}

  async merge(updates: readonly InventoryRecord[]): Promise<void> {
    if (updates.length === 0) return;
    const k = this.keys;
    const args = [k.inventoryRecordPrefix, k.inventoryClientsPrefix, ...updates.map((u) => JSON.stringify({
      id: recordId(u), client: clientId(u), scheme: u.scheme, dialect: u.dialect, subject: u.subject, kind: u.kind,
      account: u.account, instance: u.instance, first: String(u.firstSeen), last: String(u.lastSeen), count: String(u.count),
      ...(u.userAgent !== undefined ? { ua: u.userAgent } : {}), ...(u.address !== undefined ? { addr: u.address } : {}),
    }))];
    await MERGE.run(this.redis, [k.inventorySeen, k.inventorySchemes], args);
  }

  /** Newest first: the seen index read from `seenSince` up, a batch of records at a time, filtered here. */
  async list(f: InventoryFilter): Promise<InventoryRecord[]> {
    const out: InventoryRecord[] = [];
    const min = f.seenSince ?? '-inf';
    for (let offset = 0; out.length < f.limit; offset += LIST_BATCH) {
      const ids = await this.redis.zrevrangebyscore(this.keys.inventorySeen, '+inf', min, 'LIMIT', offset, LIST_BATCH);
      if (ids.length === 0) break;
      const p = this.redis.pipeline();
      for (const id of ids) p.hgetall(this.keys.inventoryRecordPrefix + id);
      for (const [err, h] of (await p.exec()) ?? []) {
        if (err) throw err;
        const rec = fromHash(h as Record<string, string>);
        if (rec === undefined || (f.scheme !== undefined && rec.scheme !== f.scheme) || (f.kind !== undefined && rec.kind !== f.kind)
          || (f.account !== undefined && rec.account !== f.account)) continue;
        out.push(rec);
        if (out.length >= f.limit) break;
      }
      if (ids.length < LIST_BATCH) break;
    }
    return out;
  }

  async countClients(since: number): Promise<Map<string, number>> {
    const schemes = await this.redis.smembers(this.keys.inventorySchemes);
    const p = this.redis.pipeline();
    for (const s of schemes) p.zcount(this.keys.inventoryClientsPrefix + s, since, '+inf');
    const replies = (await p.exec()) ?? [];
    const out = new Map<string, number>();
    replies.forEach(([err, n], i) => {
      if (err) throw err;
      if (Number(n) > 0) out.set(schemes[i]!, Number(n));
    });
    return out;
  }

  async prune(before: number): Promise<number> {
    const k = this.keys;
    let total = 0;
    for (;;) {
      const n = Number(await PRUNE.run(this.redis, [k.inventorySeen, k.inventorySchemes], [k.inventoryRecordPrefix, k.inventoryClientsPrefix, before, PRUNE_BATCH]));
      total += n;
      if (n < PRUNE_BATCH) return total;
    }
  }
}

/** A record's id: a digest of its key parts, length-prefixed so no two keys spell the same input. */
function recordId(k: InventoryKey): string {
  return digestOf([k.scheme, k.dialect, k.subject, k.kind, k.account, k.instance]);
}

/** A client's id within a scheme (every dialect of one client is one client). */
function clientId(k: InventoryKey): string {
  return digestOf([k.subject, k.kind, k.account, k.instance]);
}

function digestOf(parts: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(`${Buffer.byteLength(p)}:${p}`);
  return h.digest('base64url').slice(0, 27);
}

function fromHash(h: Record<string, string> | null | undefined): InventoryRecord | undefined {
  if (h === null || h === undefined || h.scheme === undefined) return undefined;
  return {
    scheme: h.scheme, dialect: h.dialect ?? '', subject: h.subject ?? '', kind: h.kind ?? '', account: h.account ?? '', instance: h.instance ?? '',
    firstSeen: Number(h.firstSeen), lastSeen: Number(h.lastSeen), count: Number(h.count),
    ...(h.userAgent !== undefined ? { userAgent: h.userAgent } : {}),
    ...(h.address !== undefined ? { address: h.address } : {}),
  };
}
