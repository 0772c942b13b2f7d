/**
 * The validation cache's storage: a bounded LRU of verdicts kept in typed arrays, outside the V8 heap.
 * Why rows, not objects: docs/performance-notes.md#validation-cache-entries-in-typed-arrays
 *
 * - keys are the credential digests of cache-key.ts: at most {@link MAX_KEY_LENGTH} Latin-1 characters;
 * - a hit builds a fresh frozen Identity from its row and shared shape (scheme, kind, account, instance, actor);
 * - expiry is lazy: an entry past its deadline is dropped when looked up, or evicted in LRU order;
 * - two segments, each its own LRU list over the same rows: identities (at most `maxEntries`) and rejections
 *   (at most `maxNegativeEntries`). A rejection only ever evicts an older rejection, so a flood of random
 *   credentials cannot push a valid user out and make them pay a password hash again; an identity evicts older
 *   identities, and rejections first when bytes run short;
 * - admission (`frequency`, TinyLFU): an identity that would evict another gets in only if it has been used more
 *   often lately ({@link FrequencySketch}), so a stream of one-off valid tokens cannot push out the credentials in
 *   regular use; with `lru`, every new identity gets in;
 * - bounded by entry count per segment and by approximate bytes in all; rows are allocated up front for
 *   `min(maxEntries, maxBytes / smallest entry)` identities and `min(maxNegativeEntries, maxBytes / rejection)`
 *   rejections, and the system backs only the pages of rows in use.
 */
import { Buffer } from 'node:buffer';
import { TrackgateError } from '../errors.js';
import { LOOKUP_DIGEST_PREFIX, LOOKUP_DIGEST_RE } from '../accounts/digest-token.js';
import type { Identity, IdentityKind } from '../identity/identity.js';
import { FrequencySketch } from './frequency-sketch.js';

/** A cached verdict: the identity, or the rejection to throw again. */
export type Verdict = Identity | TrackgateError;

/** Longest key accepted (a base64url SHA-256 digest is 43 characters). */
export const MAX_KEY_LENGTH = 47;
const KEY_STRIDE = MAX_KEY_LENGTH + 1; // a length byte, then the characters
const DIGEST_BYTES = 32;

// flags
const F_DIGEST_BYTES = 1; // tokenDigest is a store digest, held as 32 raw bytes
const F_DIGEST_OTHER = 2; // tokenDigest of another form, held in #otherDigests
const F_NO_EXPIRY = 4;
const F_NEGATIVE = 8; // the row is a rejection, in the negative segment
const F_HIT = 16; // looked up since it was stored (frequency admission: it has proven itself)

/** Segment indexes: each has its own LRU list, count and bound. */
const POSITIVE = 0;
const NEGATIVE = 1;
export type Segment = 'positive' | 'negative';
export type Admission = 'frequency' | 'lru';

/**
 * Approximate bytes of one row: typed-array columns (48 key + 4 hash + 4 chain + 8 links + 16 times + 32 digest
 * + 1 flags + 4 shape + 4 bucket) and the heap slot of its subject.
 */
export const ROW_BYTES = 136;
/** A string's approximate heap bytes (header and UTF-16 worst case). */
const stringBytes = (s: string): number => 16 + s.length * 2;
/** A cached rejection: the error object, its message and detail. */
const ERROR_BYTES = 400;

/** The parts of an identity that many entries share. */
interface Shape {
  readonly scheme: string;
  readonly kind: IdentityKind;
  readonly account: string | undefined;
  readonly instance: string | undefined;
  readonly actor: string | undefined;
  readonly dialect: string | undefined;
  readonly id: string;
  refs: number;
}

export interface IdentityTableOptions {
  /** Most identities (positive entries). */
  maxEntries: number;
  /** Most rejections (negative entries), kept apart from the identities. */
  maxNegativeEntries: number;
  maxBytes: number;
  /** Whether a new identity must have been used more often than the one it would evict (default `frequency`). */
  admission?: Admission;
  /** Called for each entry dropped to stay within the bounds (not for expired, replaced or deleted ones). */
  onEvict: (segment: Segment) => void;
  /** Called for each identity not stored because it was used less often than the one it would evict. */
  onRefuse?: () => void;
}

export class IdentityTable {
  /** Per segment: the bound, the entries held, and the LRU list's ends (most and least recently used). */
  readonly #caps: Uint32Array;
  readonly #counts = new Uint32Array(2);
  readonly #heads = new Uint32Array(2);
  readonly #tails = new Uint32Array(2);
  readonly #maxBytes: number;
  readonly #onEvict: (segment: Segment) => void;
  readonly #onRefuse: () => void;
  /** Identities' recent use; undefined with `lru` admission. */
  readonly #sketch: FrequencySketch | undefined;
  // Rows are numbered 1..cap; 0 means "none" in every link column, so freshly zeroed arrays are empty.
  readonly #keys: Uint8Array;
  readonly #hash: Uint32Array;
  readonly #chain: Uint32Array;
  readonly #buckets: Uint32Array;
  readonly #mask: number;
  readonly #prev: Uint32Array;
  readonly #next: Uint32Array;
  readonly #deadline: Float64Array;
  readonly #expires: Float64Array;
  readonly #digests: Buffer;
  readonly #flags: Uint8Array;
  readonly #shapeOf: Uint32Array;
  /** Subject string of a positive row, the rejection of a negative one. */
  readonly #values: (string | TrackgateError | undefined)[];
  readonly #otherDigests = new Map<number, string>();
  /** Shapes by index (0 unused: a negative row has shape 0), their ids, and free indexes. */
  #shapes: (Shape | undefined)[] = [undefined];
  readonly #shapeIds = new Map<string, number>();
  #freeShapes: number[] = [];
  #top = 0; // rows ever handed out since the last clear; rows above are untouched
  #free: number[] = [];
  #bytes = 0;

  constructor(opts: IdentityTableOptions) {
    this.#maxBytes = opts.maxBytes;
    this.#onEvict = opts.onEvict;
    this.#onRefuse = opts.onRefuse ?? (() => undefined);
    // No more rows than maxBytes can hold: a large maxEntries under a small maxBytes must not reserve rows it can never use.
    const positives = Math.max(1, Math.min(opts.maxEntries, Math.floor(opts.maxBytes / (ROW_BYTES + stringBytes('')))));
    const negatives = Math.max(0, Math.min(opts.maxNegativeEntries, Math.floor(opts.maxBytes / (ROW_BYTES + ERROR_BYTES))));
    this.#caps = Uint32Array.of(positives, negatives);
    this.#sketch = (opts.admission ?? 'frequency') === 'frequency' ? new FrequencySketch(positives) : undefined;
    const cap = positives + negatives;
    const n = cap + 1;
    let buckets = 1;
    while (buckets < cap) buckets *= 2;
    this.#mask = buckets - 1;
    this.#buckets = new Uint32Array(buckets);
    this.#keys = new Uint8Array(n * KEY_STRIDE);
    this.#hash = new Uint32Array(n);
    this.#chain = new Uint32Array(n);
    this.#prev = new Uint32Array(n);
    this.#next = new Uint32Array(n);
    this.#deadline = new Float64Array(n);
    this.#expires = new Float64Array(n);
    this.#digests = Buffer.alloc(n * DIGEST_BYTES);
    this.#flags = new Uint8Array(n);
    this.#shapeOf = new Uint32Array(n);
    this.#values = [];
  }

  /** Entries held, both segments. */
  get size(): number { return this.#counts[POSITIVE]! + this.#counts[NEGATIVE]!; }
  /** Rejections held (the negative segment). */
  get negativeSize(): number { return this.#counts[NEGATIVE]!; }
  get bytes(): number { return this.#bytes; }
  /** Identity rows reserved: `min(maxEntries, maxBytes / smallest entry)`. */
  get capacity(): number { return this.#caps[POSITIVE]!; }
  /** Rejection rows reserved: `min(maxNegativeEntries, maxBytes / rejection)`. */
  get negativeCapacity(): number { return this.#caps[NEGATIVE]!; }

  /**
   * The verdict stored under `key` and still valid at `now` (epoch ms), which becomes the most recently used;
   * undefined when there is none. An entry found past its deadline is dropped.
   */
  get(key: string, now: number): Verdict | undefined {
    const h = hashOf(key);
    const row = this.#find(key, h);
    if (row === 0) return undefined;
    if (this.#deadline[row]! <= now) {
      this.#remove(row);
      return undefined;
    }
    if (this.#sketch !== undefined && (this.#flags[row]! & F_NEGATIVE) === 0) {
      this.#sketch.increment(h);
      this.#flags[row] = this.#flags[row]! | F_HIT;
    }
    this.#touch(row);
    return this.#verdict(row);
  }

  /**
   * Stores `verdict` under `key` until `deadline` (epoch ms), replacing what was there, evicting the least
   * recently used entries its segment may evict (see the header). An entry larger than maxBytes on its own is
   * not stored, nor a rejection when identities fill the bytes.
   */
  set(key: string, verdict: Verdict, deadline: number): void {
    checkKey(key);
    const h = hashOf(key);
    const old = this.#find(key, h);
    if (old !== 0) this.#remove(old);
    const negative = verdict instanceof TrackgateError;
    const seg = negative ? NEGATIVE : POSITIVE;
    const size = entryBytes(negative ? verdict : verdict.subject);
    if (size > this.#maxBytes) return;
    // The candidate's own use counts: it was just verified because someone presented it.
    if (!negative) this.#sketch?.increment(h);
    let admitted = false;
    while (this.#counts[seg]! >= this.#caps[seg]! || this.#bytes + size > this.#maxBytes) {
      const victim = this.#victim(seg);
      if (victim === 0) return;
      const victimSeg = this.#segmentOf(victim);
      if (!admitted && !negative && victimSeg === POSITIVE && this.#sketch !== undefined) {
        // A tie goes to a victim that has been hit since it was stored, so a one-off never displaces a
        // credential in use; against a victim never hit (a one-off that got in, or whose estimate is only its
        // sketch neighbours' counts), the newcomer wins a tie, so such an entry cannot lock out a hot credential.
        const candidate = this.#sketch.estimate(h);
        const incumbent = this.#sketch.estimate(this.#hash[victim]!);
        if (candidate < incumbent || (candidate === incumbent && (this.#flags[victim]! & F_HIT) !== 0)) { this.#onRefuse(); return; }
        admitted = true;
      }
      this.#remove(victim);
      this.#onEvict(victimSeg === NEGATIVE ? 'negative' : 'positive');
    }
    const row = this.#free.pop() ?? ++this.#top;
    const k = row * KEY_STRIDE;
    this.#keys[k] = key.length;
    for (let i = 0; i < key.length; i++) this.#keys[k + 1 + i] = key.charCodeAt(i);
    this.#hash[row] = h;
    const b = h & this.#mask;
    this.#chain[row] = this.#buckets[b]!;
    this.#buckets[b] = row;
    this.#deadline[row] = deadline;
    if (negative) {
      this.#values[row] = verdict;
      this.#shapeOf[row] = 0;
      this.#flags[row] = F_NO_EXPIRY | F_NEGATIVE;
    } else {
      this.#values[row] = verdict.subject;
      this.#shapeOf[row] = this.#shapeFor(verdict);
      let flags = 0;
      if (verdict.expiresAt === undefined) flags |= F_NO_EXPIRY;
      else this.#expires[row] = verdict.expiresAt;
      const digest = verdict.tokenDigest;
      if (digest !== undefined) {
        if (LOOKUP_DIGEST_RE.test(digest)) {
          this.#digests.write(digest.slice(LOOKUP_DIGEST_PREFIX.length), row * DIGEST_BYTES, DIGEST_BYTES, 'hex');
          flags |= F_DIGEST_BYTES;
        } else {
          this.#otherDigests.set(row, digest);
          flags |= F_DIGEST_OTHER;
        }
      }
      this.#flags[row] = flags;
    }
    this.#linkFirst(row, seg);
    this.#counts[seg]!++;
    this.#bytes += size;
  }

  /**
   * The row to evict so that an entry of segment `seg` fits: its own least recently used when the segment is
   * full; when bytes are short, the oldest rejection, and for an identity the oldest identity once no rejection
   * is left. 0: nothing this entry may evict (a rejection never displaces an identity).
   */
  #victim(seg: number): number {
    if (this.#counts[seg]! >= this.#caps[seg]!) return this.#tails[seg]!;
    const negative = this.#tails[NEGATIVE]!;
    return negative !== 0 || seg === NEGATIVE ? negative : this.#tails[POSITIVE]!;
  }

  #segmentOf(row: number): number {
    return (this.#flags[row]! & F_NEGATIVE) !== 0 ? NEGATIVE : POSITIVE;
  }

  delete(key: string): boolean {
    const row = this.#find(key, hashOf(key));
    if (row === 0) return false;
    this.#remove(row);
    return true;
  }

  /**
   * Deletes every entry whose identity carries one of `digests` (a revocation); returns how many. Compares the
   * stored bytes, building no identity (why: docs/performance-notes.md#revocation-compares-raw-digest-bytes).
   */
  deleteTokenDigests(digests: ReadonlySet<string>): number {
    if (this.#counts[POSITIVE] === 0 || digests.size === 0) return 0;
    // Each row is first matched on its digest's first 32 bits against this short list (a revocation names a few
    // tokens), then compared in full.
    const raws: Buffer[] = [];
    for (const d of digests) if (LOOKUP_DIGEST_RE.test(d)) raws.push(Buffer.from(d.slice(LOOKUP_DIGEST_PREFIX.length), 'hex'));
    const heads = raws.map((raw) => raw.readUInt32LE(0));
    let n = 0;
    // Rejections carry no token digest: only the identities' list is walked.
    for (let row = this.#heads[POSITIVE]!; row !== 0;) {
      const next = this.#next[row]!;
      const flags = this.#flags[row]!;
      let revoked = false;
      if ((flags & F_DIGEST_BYTES) !== 0) {
        const at = row * DIGEST_BYTES;
        const head = this.#digests.readUInt32LE(at);
        for (let i = 0; i < heads.length && !revoked; i++) {
          revoked = heads[i] === head && raws[i]!.compare(this.#digests, at, at + DIGEST_BYTES) === 0;
        }
      } else if ((flags & F_DIGEST_OTHER) !== 0) {
        revoked = digests.has(this.#otherDigests.get(row)!);
      }
      if (revoked) { this.#remove(row); n++; }
      row = next;
    }
    return n;
  }

  clear(): void {
    this.#buckets.fill(0);
    this.#values.length = 0;
    this.#otherDigests.clear();
    this.#shapes = [undefined];
    this.#shapeIds.clear();
    this.#freeShapes = [];
    this.#free = [];
    this.#heads.fill(0);
    this.#tails.fill(0);
    this.#counts.fill(0);
    this.#top = this.#bytes = 0;
  }

  #find(key: string, h: number): number {
    const len = key.length;
    if (len > MAX_KEY_LENGTH) return 0;
    for (let row = this.#buckets[h & this.#mask]!; row !== 0; row = this.#chain[row]!) {
      if (this.#hash[row] !== h) continue;
      const k = row * KEY_STRIDE;
      if (this.#keys[k] !== len) continue;
      let i = 0;
      while (i < len && this.#keys[k + 1 + i] === key.charCodeAt(i)) i++;
      if (i === len) return row;
    }
    return 0;
  }

  #verdict(row: number): Verdict {
    const value = this.#values[row]!;
    if (typeof value !== 'string') return value;
    const shape = this.#shapes[this.#shapeOf[row]!]!;
    const flags = this.#flags[row]!;
    let tokenDigest: string | undefined;
    if ((flags & F_DIGEST_BYTES) !== 0) {
      tokenDigest = LOOKUP_DIGEST_PREFIX + this.#digests.toString('hex', row * DIGEST_BYTES, (row + 1) * DIGEST_BYTES);
    } else if ((flags & F_DIGEST_OTHER) !== 0) {
      tokenDigest = this.#otherDigests.get(row);
    }
    // One literal with every field, so every cached identity has one hidden class.
    return Object.freeze({
      subject: value,
      scheme: shape.scheme,
      kind: shape.kind,
      account: shape.account,
      instance: shape.instance,
      actor: shape.actor,
      dialect: shape.dialect,
      expiresAt: (flags & F_NO_EXPIRY) !== 0 ? undefined : this.#expires[row]!,
      tokenDigest,
    });
  }

  /** Moves `row` to the most recently used end of its segment. */
  #touch(row: number): void {
    const seg = this.#segmentOf(row);
    if (this.#heads[seg] === row) return;
    this.#unlinkLru(row, seg);
    this.#linkFirst(row, seg);
  }

  #linkFirst(row: number, seg: number): void {
    const head = this.#heads[seg]!;
    this.#prev[row] = 0;
    this.#next[row] = head;
    if (head !== 0) this.#prev[head] = row;
    this.#heads[seg] = row;
    if (this.#tails[seg] === 0) this.#tails[seg] = row;
  }

  #unlinkLru(row: number, seg: number): void {
    const p = this.#prev[row]!;
    const n = this.#next[row]!;
    if (p === 0) this.#heads[seg] = n; else this.#next[p] = n;
    if (n === 0) this.#tails[seg] = p; else this.#prev[n] = p;
  }

  #remove(row: number): void {
    const seg = this.#segmentOf(row);
    this.#unlinkLru(row, seg);
    const b = this.#hash[row]! & this.#mask;
    let at = this.#buckets[b]!;
    if (at === row) this.#buckets[b] = this.#chain[row]!;
    else {
      while (this.#chain[at] !== row) at = this.#chain[at]!;
      this.#chain[at] = this.#chain[row]!;
    }
    this.#bytes -= entryBytes(this.#values[row]!);
    this.#values[row] = undefined;
    if (this.#shapeOf[row] !== 0) this.#releaseShape(this.#shapeOf[row]!);
    if ((this.#flags[row]! & F_DIGEST_OTHER) !== 0) this.#otherDigests.delete(row);
    this.#free.push(row);
    this.#counts[seg]!--;
  }

  #shapeFor(id: Identity): number {
    const shapeId = [id.scheme, id.kind, id.account === undefined ? -1 : id.account.length, id.account ?? '',
      id.instance === undefined ? -1 : id.instance.length, id.instance ?? '', id.actor === undefined ? -1 : id.actor.length, id.actor ?? '',
      id.dialect === undefined ? -1 : id.dialect.length, id.dialect ?? ''].join(' ');
    let index = this.#shapeIds.get(shapeId);
    if (index === undefined) {
      index = this.#freeShapes.pop() ?? this.#shapes.length;
      this.#shapes[index] = { scheme: id.scheme, kind: id.kind, account: id.account, instance: id.instance, actor: id.actor, dialect: id.dialect, id: shapeId, refs: 0 };
      this.#shapeIds.set(shapeId, index);
    }
    this.#shapes[index]!.refs++;
    return index;
  }

  #releaseShape(index: number): void {
    const shape = this.#shapes[index]!;
    if (--shape.refs > 0) return;
    this.#shapeIds.delete(shape.id);
    this.#shapes[index] = undefined;
    this.#freeShapes.push(index);
  }
}

/** Approximate bytes an entry holds: its row and its subject string, or its rejection. (Shapes are shared.) */
function entryBytes(value: string | TrackgateError): number {
  return ROW_BYTES + (typeof value === 'string' ? stringBytes(value) : ERROR_BYTES);
}

function checkKey(key: string): void {
  if (key.length > MAX_KEY_LENGTH) throw new TypeError(`validation cache key longer than ${MAX_KEY_LENGTH} characters`);
  for (let i = 0; i < key.length; i++) {
    if (key.charCodeAt(i) > 0xff) throw new TypeError('validation cache key outside Latin-1');
  }
}

/** FNV-1a over the key's characters (keys are uniform digests; this only has to spread test keys too). */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
