/**
 * Every Redis key and channel name trackgate uses, under the deployment's `store.redis.keyPrefix` (`tg:` by
 * default, the names of earlier versions). Two layouts:
 *
 * - standalone and sentinel: `<prefix>tok:<digest>`, `<prefix>dnc:since`, … as they have always been;
 * - cluster: every key a script or transaction touches together shares one hash tag (`{…}`), so it lives in
 *   one slot and the script stays atomic. Token, family, subject-index and user keys are `{<prefix>}tok:…`:
 *   a family kill reads the family and writes its members, a user creation checks three unique names, and
 *   the revocation event is published from the same script, so all of them share the deployment's one
 *   slot (on one master; trackgate's records are small: see docs/configuration.md). The throttle's counters
 *   are tagged per counted value (`<prefix>thr:{user:<hash>}:<window>`) and the Digest `nc` records per one of
 *   {@link NONCE_BUCKETS} buckets, each with its own mark, so those spread over the cluster. The inventory's keys
 *   are `{<prefix>inv}…`: a batch merges many records and their indexes in one script, so they share a slot of
 *   their own (apart from the tokens').
 */

/** Digest `nc` buckets on a cluster: each is a slot with its own `since` mark. */
export const NONCE_BUCKETS = 16;

export class RedisKeys {
  /** The start of every token and user key: the prefix, hash-tagged on a cluster. */
  readonly #data: string;

  /** The start of every inventory key: hash-tagged on a cluster, one slot of its own. */
  readonly #inventory: string;

  constructor(readonly prefix: string, readonly cluster: boolean) {
    this.#data = cluster ? `{${prefix}}` : prefix;
    this.#inventory = cluster ? `{${prefix}inv}` : `${prefix}inv:`;
  }

  /** A token's record; `tokenPrefix + digest` is the same key (a script builds it from the prefix). */
  get tokenPrefix(): string { return `${this.#data}tok:`; }
  token(digest: string): string { return `${this.#data}tok:${digest}`; }
  family(family: string): string { return `${this.#data}fam:${family}`; }
  subject(subject: string): string { return `${this.#data}sub:${subject}`; }
  user(id: string): string { return `${this.#data}user:${id}`; }
  username(name: string): string { return `${this.#data}uname:${name}`; }
  /** The id of app's user with that de-duplication key (the app id's length keeps `a:b` + `c` apart from `a` + `b:c`). */
  userKey(app: string, key: string): string { return `${this.#data}ukey:${app.length}:${app}:${key}`; }
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
