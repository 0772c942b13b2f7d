/**
 * Batches the inventory's sightings in memory and writes them to the store every `inventory.flushSeconds` and on
 * shutdown. `note` runs on the request path: a map lookup and a few assignments, never a promise or I/O. Memory
 * is bounded by `inventory.maxPending` distinct records between writes; sightings of further new records are
 * dropped (counted), those of records already pending still count.
 *
 * A failed write puts its batch back (as room allows) and is retried at the next tick, so a store outage loses
 * sightings only past the bound. Once an hour a write also prunes records older than `inventory.retentionDays`.
 */
import type { CoreConfig } from '../config/schema.js';
import type { Identity } from '../identity/identity.js';
import type { Logger } from '../observability/log.js';
import type { InventoryRecord, Store } from '../store/types.js';

type InventoryConfig = CoreConfig['inventory'];

/**
 * Records per store call: one SQLite transaction or one Redis script each, kept short (a SQLite upsert takes about
 * 5 µs: docs/performance-notes.md#inventory-written-in-short-transactions).
 */
export const WRITE_BATCH = 200;
/** Longest User-Agent kept (longer ones are cut): a record's size stays bounded. */
export const MAX_USER_AGENT = 256;
/** How often a write also prunes expired records. */
export const PRUNE_EVERY_MS = 60 * 60_000;

interface Pending {
  scheme: string; dialect: string; subject: string; kind: string; account: string; instance: string;
  firstSeen: number; lastSeen: number; count: number; userAgent: string | undefined; address: string | undefined;
}

export interface RecorderEvents {
  /** Sightings of new records dropped because `maxPending` were pending already. */
  dropped?(n: number): void;
  /** A write of `records` records succeeded or failed. */
  written?(ok: boolean, records: number): void;
}

export class InventoryRecorder {
  /**
   * Pending records by subject, then the few of one subject (its forms, dialects, accounts) in a list compared
   * field by field: the subject string of a cached identity is the cache's own, so its hash is computed once and
   * no key string is built per request. Why: docs/performance-notes.md#inventory-sightings-keyed-by-subject
   */
  #pending = new Map<string, Pending[]>();
  #size = 0;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> | undefined;
  #lastPrune = 0;
  #closed = false;

  constructor(
    private readonly store: Pick<Store, 'recordInventory' | 'pruneInventory'>,
    private readonly config: () => InventoryConfig,
    private readonly now: () => number,
    private readonly logger: Logger,
    private readonly events: RecorderEvents = {},
  ) {}

  /** Records pending the next write. */
  get pending(): number { return this.#size; }

  /** One authenticated request by `identity` with credential form `scheme`. */
  note(scheme: string, identity: Identity, userAgent: string | undefined, address: string | undefined): void {
    if (userAgent !== undefined && userAgent.length > MAX_USER_AGENT) userAgent = userAgent.slice(0, MAX_USER_AGENT);
    const dialect = identity.dialect ?? '';
    const account = identity.account ?? '';
    const instance = identity.instance ?? '';
    const kind = identity.kind;
    const at = this.now();
    const list = this.#pending.get(identity.subject);
    const p = list === undefined ? undefined : find(list, scheme, dialect, kind, account, instance);
    if (p !== undefined) {
      p.count++;
      if (at >= p.lastSeen) { p.lastSeen = at; p.userAgent = userAgent; p.address = address; }
      return;
    }
    if (this.#size >= this.config().maxPending) { this.events.dropped?.(1); return; }
    this.#add(list, {
      scheme, dialect, subject: identity.subject, kind, account, instance, firstSeen: at, lastSeen: at, count: 1, userAgent, address,
    });
  }

  #add(list: Pending[] | undefined, p: Pending): void {
    if (list === undefined) this.#pending.set(p.subject, [p]);
    else list.push(p);
    this.#size++;
  }

  /** Starts the periodic writes (timers unref'd: they never keep a process alive). */
  start(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().finally(() => this.start());
    }, this.config().flushSeconds * 1000);
    this.#timer.unref();
  }

  /** Writes what is pending now; one write at a time (a call during a write waits for it, then writes). */
  async flush(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
    if (this.#size === 0 && !this.#pruneDue()) return;
    this.#writing = this.#write().finally(() => { this.#writing = undefined; });
    await this.#writing;
  }

  /** Stops the timer and writes what is left. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) { clearTimeout(this.#timer); this.#timer = undefined; }
    await this.flush();
  }

  #pruneDue(): boolean {
    return this.now() - this.#lastPrune >= PRUNE_EVERY_MS;
  }

  async #write(): Promise<void> {
    const batch = [...this.#pending.values()].flat();
    this.#pending = new Map();
    this.#size = 0;
    for (let i = 0; i < batch.length; i += WRITE_BATCH) {
      // SQLite writes synchronously: between two transactions the event loop serves requests (a microtask would not).
      if (i > 0) await new Promise<void>((r) => setImmediate(r));
      const part = batch.slice(i, i + WRITE_BATCH);
      try {
        await this.store.recordInventory(part.map(toRecord));
        this.events.written?.(true, part.length);
      } catch (err) {
        this.events.written?.(false, batch.length - i);
        this.#putBack(batch.slice(i));
        this.logger.warn({ err: (err as Error).message, records: batch.length - i }, 'inventory write failed; retrying at the next flush');
        return;
      }
    }
    if (this.#pruneDue()) {
      this.#lastPrune = this.now();
      try {
        const removed = await this.store.pruneInventory(this.now() - this.config().retentionDays * 86_400_000);
        if (removed > 0) this.logger.info({ removed }, 'inventory records past their retention removed');
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'inventory prune failed');
      }
    }
  }

  /** Merges an unwritten batch back into what is pending (sightings since then included), within the bound. */
  #putBack(batch: readonly Pending[]): void {
    const max = this.config().maxPending;
    let dropped = 0;
    for (const b of batch) {
      const list = this.#pending.get(b.subject);
      const p = list === undefined ? undefined : find(list, b.scheme, b.dialect, b.kind, b.account, b.instance);
      if (p === undefined) {
        if (this.#size >= max) { dropped += b.count; continue; }
        this.#add(list, b);
        continue;
      }
      p.count += b.count;
      p.firstSeen = Math.min(p.firstSeen, b.firstSeen);
      if (b.lastSeen > p.lastSeen) { p.lastSeen = b.lastSeen; p.userAgent = b.userAgent; p.address = b.address; }
    }
    if (dropped > 0) this.events.dropped?.(dropped);
  }
}

/** The record of one subject's list with these other key parts. */
function find(list: readonly Pending[], scheme: string, dialect: string, kind: string, account: string, instance: string): Pending | undefined {
  for (const p of list) {
    if (p.scheme === scheme && p.dialect === dialect && p.kind === kind && p.account === account && p.instance === instance) return p;
  }
  return undefined;
}

function toRecord(p: Pending): InventoryRecord {
  return {
    scheme: p.scheme, dialect: p.dialect, subject: p.subject, kind: p.kind, account: p.account, instance: p.instance,
    firstSeen: p.firstSeen, lastSeen: p.lastSeen, count: p.count,
    ...(p.userAgent !== undefined ? { userAgent: p.userAgent } : {}),
    ...(p.address !== undefined ? { address: p.address } : {}),
  };
}
