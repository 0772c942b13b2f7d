/**
 * Every Redis key and channel name trackgate uses, under the deployment's `store.redis.keyPrefix` (`tg:` by
 * default, the names of earlier versions). Two layouts:
 *
 * - standalone and sentinel: `<prefix>tok:<digest>`, `<prefix>dnc:since`, … as they have always been (every
 *   "tag" below is the bare prefix, and nothing needs locating);
 * - cluster: every key a script or transaction touches together shares one hash tag (`{…}`), so it lives in one
 *   slot and the script stays atomic, and unrelated data spreads over the masters:
 *   - a subject's (user's) tokens, its refresh families and its listing index share the subject's tag
 *     `{<prefix>s:<hash of subject>}`: rotation with reuse detection, a family kill and a user's revocation are
 *     each one script on one slot, while two users' tokens land on different masters;
 *   - a lookup by digest (or family id) finds that tag through a small locator key in its own slot,
 *     `<prefix>loc:{tok:<digest>}` / `<prefix>loc:{fam:<family>}`, holding the tag and expiring with the data;
 *     it is written before the data, so a record is never written without a way to find it;
 *   - the users (`user:`, `uname:`, `ukey:`: a creation checks three unique names at once) stay in the
 *     deployment's directory slot `{<prefix>}`, and so does any token written by the one-slot layout of earlier
 *     versions: a digest without a locator is read there, so those tokens keep working until they expire;
 *   - the throttle's counters are tagged per counted value (`<prefix>thr:{user:<hash>}:<window>`) and the Digest
 *     `nc` records per one of {@link NONCE_BUCKETS} buckets, each with its own mark;
 *   - the inventory's keys are `{<prefix>inv}…`: a batch merges many records and their indexes in one script,
 *     so they share a slot of their own.
 */
import { createHash } from 'node:crypto';

/** Digest `nc` buckets on a cluster: each is a slot with its own `since` mark. */
export const NONCE_BUCKETS = 16;

export class RedisKeys {
  /** The tag of the users and of tokens of the one-slot layout: the prefix, hash-tagged on a cluster. */
  readonly directory: string;

  /** The start of every inventory key: hash-tagged on a cluster, one slot of its own. */
  readonly #inventory: string;

  constructor(readonly prefix: string, readonly cluster: boolean) {
    this.directory = cluster ? `{${prefix}}` : prefix;
    this.#inventory = cluster ? `{${prefix}inv}` : `${prefix}inv:`;
  }

  /** The tag a subject's tokens, families and listing index share (the prefix, off a cluster). */
  subjectTag(subject: string): string {
    if (!this.cluster) return this.prefix;
    // A hash, not the subject: a subject may hold `{` or `}`, and a short tag keeps every key short.
    return `{${this.prefix}s:${createHash('sha256').update(subject, 'utf8').digest('base64url').slice(0, 12)}}`;
  }

  /** A token's record under `tag`; `tokenPrefix(tag) + digest` is the same key (a script builds it from the prefix). */
  tokenPrefix(tag: string): string { return `${tag}tok:`; }
  token(tag: string, digest: string): string { return `${tag}tok:${digest}`; }
  family(tag: string, family: string): string { return `${tag}fam:${family}`; }
  subject(tag: string, subject: string): string { return `${tag}sub:${subject}`; }
  /** Cluster only: where a digest's or a family's tag is kept. */
  tokenLocator(digest: string): string { return `${this.prefix}loc:{tok:${digest}}`; }
  familyLocator(family: string): string { return `${this.prefix}loc:{fam:${family}}`; }

  /** SCAN patterns that match every token record (both cluster layouts). */
  get tokenPatterns(): string[] {
    return this.cluster ? [`{${globEscape(this.prefix)}s:*}tok:*`, `${globEscape(this.directory)}tok:*`] : [`${globEscape(this.prefix)}tok:*`];
  }
  /** The tag and digest of a key that {@link tokenPatterns} matched. */
  parseToken(key: string): { tag: string; digest: string } {
    const at = key.indexOf('tok:', this.cluster ? key.indexOf('}') : this.prefix.length);
    return { tag: key.slice(0, at), digest: key.slice(at + 'tok:'.length) };
  }

  user(id: string): string { return `${this.directory}user:${id}`; }
  username(name: string): string { return `${this.directory}uname:${name}`; }
  /** The id of app's user with that de-duplication key (the app id's length keeps `a:b` + `c` apart from `a` + `b:c`). */
  userKey(app: string, key: string): string { return `${this.directory}ukey:${app.length}:${app}:${key}`; }
  /** The pub/sub channel revocations travel on (on a cluster, PUBLISH reaches every node). */
  get events(): string { return `${this.prefix}events`; }

  /** The start of an inventory record's key (its id follows). */
  get inventoryRecordPrefix(): string { return `${this.#inventory}r:`; }
  /** Sorted set of every inventory record's id, scored by last seen. */
  get inventorySeen(): string { return `${this.#inventory}seen`; }
  /** The start of a scheme's sorted set of distinct clients scored by last seen (the scheme follows). */
  get inventoryClientsPrefix(): string { return `${this.#inventory}c:`; }
  /** Set of the schemes that have inventory records. */
  get inventorySchemes(): string { return `${this.#inventory}schemes`; }

  /** A throttle counter of one window; `value` is already hashed. */
  throttle(scope: string, value: string, window: number): string {
    return this.cluster ? `${this.prefix}thr:{${scope}:${value}}:${window}` : `${this.prefix}thr:${scope}:${value}:${window}`;
  }
  /** A trusted (user, address) mark; `pair` is already hashed. */
  trust(pair: string): string {
    return this.cluster ? `${this.prefix}thr:trust:{${pair}}` : `${this.prefix}thr:trust:${pair}`;
  }

  /** A Digest nonce's `nc` record. */
  nonce(nonce: string): string {
    return this.cluster ? `${this.prefix}dnc:{${bucket(nonce)}}:n:${nonce}` : `${this.prefix}dnc:n:${nonce}`;
  }
  /** The `since` mark that applies to `nonce` (the same slot as its record). */
  nonceMark(nonce: string): string {
    return this.cluster ? `${this.prefix}dnc:{${bucket(nonce)}}:since` : `${this.prefix}dnc:since`;
  }
  /** Every `since` mark (one, or one per bucket). */
  nonceMarks(): string[] {
    return this.cluster ? Array.from({ length: NONCE_BUCKETS }, (_, b) => `${this.prefix}dnc:{${b}}:since`) : [`${this.prefix}dnc:since`];
  }
}

/** A nonce's bucket: from its last character (nonces are random base64url). */
function bucket(nonce: string): number {
  return nonce.length === 0 ? 0 : nonce.charCodeAt(nonce.length - 1) % NONCE_BUCKETS;
}

/** `text` as a literal in a SCAN pattern. */
function globEscape(text: string): string {
  return text.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}
