/**
 * Read-modify-write of the accounts file (YAML) for the `accounts` and `import` commands. Edits go through
 * the `yaml` Document API, so comments, key order and every entry the command does not touch are kept.
 * {@link AccountsDocument.save} validates the result with the same schema trackgate loads it with, then
 * replaces the file atomically (temp file in the same folder + rename): a running trackgate's watcher sees
 * one change and reloads a complete file, never a half-written one.
 *
 * Entries are found by their key ({@link AccountsDocument.get}) through one Map per section, built on first
 * use and kept up to date by `add` and `remove`: an import of n users makes n lookups, which a scan of the
 * section made quadratic.
 */
import {
  chmodSync, chownSync, closeSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import {
  isMap, isScalar, isSeq, parse as parseYaml, parseDocument, Scalar, visit, type Document, type YAMLMap, type YAMLSeq,
} from 'yaml';
import { ConfigError, formatIssues } from '../config/load.js';
import { accountsFileSchema, type AccountsFile } from './schema.js';

export type Section = 'users' | 'admins' | 'userGroups' | 'applications';

/** An entry of a section: its YAML node and its plain value (as the node holds it now). */
export interface Entry {
  readonly node: YAMLMap;
  readonly value: Record<string, unknown>;
}

/**
 * What identifies an entry of each section, compared as the commands compare it: a user name in its NFC form,
 * an admin by instance and case-insensitive email, a user group by instance id, an application by client id.
 */
const KEY_OF: Record<Section, (v: Record<string, unknown>) => string | undefined> = {
  users: (v) => (typeof v.username === 'string' ? v.username.normalize('NFC') : undefined),
  admins: (v) => (typeof v.instanceId === 'string' && typeof v.email === 'string' ? adminKey(v.instanceId, v.email) : undefined),
  userGroups: (v) => (typeof v.instanceId === 'string' ? v.instanceId : undefined),
  applications: (v) => (typeof v.clientId === 'string' ? v.clientId : undefined),
};
/** The fields {@link KEY_OF} reads: setting one of them drops the indexes. */
const KEY_FIELDS = new Set(['username', 'email', 'instanceId', 'clientId']);

/** The key of an admin entry, for {@link AccountsDocument.get}. */
export function adminKey(instanceId: string, email: string): string {
  return `${instanceId}\n${email.toLowerCase()}`;
}

function entryOf(node: YAMLMap): Entry {
  return { node, get value() { return node.toJSON() as Record<string, unknown>; } };
}

// Values that are secrets' hashes or digests are written double-quoted, like the hand-written examples
// (`{SHA}…` would otherwise start a flow mapping, `$…` reads as a plain scalar only by luck).
const QUOTE_RE = /^(\$|\{SHA\}|sha256:)/;
const TO_STRING = { lineWidth: 0, flowCollectionPadding: false } as const;

export class AccountsDocument {
  /** Per section, entry nodes by key (the first entry of a key, as a scan finds it). */
  readonly #index = new Map<Section, Map<string, YAMLMap>>();

  private constructor(
    /** The path given (for messages). */
    readonly path: string,
    /** The file that is written: the symlink target when `path` is a link, so the link is kept. */
    private readonly target: string,
    /** The text read, `undefined` when the file did not exist. */
    private readonly original: string | undefined,
    readonly doc: Document,
  ) {}

  /** Opens `path`; a missing file is an empty accounts file (created by {@link save}). */
  static open(path: string): AccountsDocument {
    let text: string | undefined;
    let target = path;
    try {
      target = realpathSync(path);
      text = readFileSync(target, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ConfigError(path, [`cannot read file (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
      }
    }
    const doc = parseDocument(text ?? '');
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      throw new ConfigError(path, [`not valid YAML${e.linePos ? ` at line ${e.linePos[0].line}` : ''}: ${e.message.split('\n')[0]}`]);
    }
    if (doc.contents !== null && !isMap(doc.contents)) throw new ConfigError(path, ['(root): must be a mapping of keys']);
    // Not validated here: an edit may be what repairs the file. `save` validates the result.
    return new AccountsDocument(path, target, text, doc);
  }

  /** The validated content as trackgate would load it. */
  validate(): AccountsFile {
    return validateText(this.path, this.doc.toString(TO_STRING));
  }

  /** The entries of a section (none when it is absent). */
  entries(section: Section): Entry[] {
    const seq = this.doc.get(section, true);
    if (!isSeq(seq)) return [];
    return seq.items.flatMap((node) => (isMap(node) ? [entryOf(node)] : []));
  }

  /** The entry of `section` whose key ({@link KEY_OF}; for admins {@link adminKey}) is `key`. */
  get(section: Section, key: string): Entry | undefined {
    const node = this.#keyed(section).get(section === 'users' ? key.normalize('NFC') : key);
    return node === undefined ? undefined : entryOf(node);
  }

  /** The first entry matching a condition that is not a key (a scan). */
  find(section: Section, match: (value: Record<string, unknown>) => boolean): Entry | undefined {
    return this.entries(section).find((e) => match(e.value));
  }

  /** Appends an entry to a section, creating the section when needed. */
  add(section: Section, value: Record<string, unknown>): YAMLMap {
    const node = this.node(value) as YAMLMap;
    this.seq(section).add(node);
    const key = KEY_OF[section](value);
    const index = this.#index.get(section);
    if (key !== undefined && index !== undefined && !index.has(key)) index.set(key, node);
    return node;
  }

  remove(section: Section, entry: Entry): void {
    const seq = this.seq(section);
    seq.items.splice(seq.items.indexOf(entry.node), 1);
    // Another entry with the same key (an invalid file being repaired) becomes the one found: rebuilt on use.
    this.#index.delete(section);
  }

  /** Sets `key` of an entry (or of any map node) to a plain value. */
  set(map: YAMLMap, key: string, value: unknown): void {
    map.set(key, this.node(value));
    if (KEY_FIELDS.has(key)) this.#index.clear();
  }

  #keyed(section: Section): Map<string, YAMLMap> {
    let index = this.#index.get(section);
    if (index !== undefined) return index;
    index = new Map();
    const seq = this.doc.get(section, true);
    if (isSeq(seq)) {
      for (const node of seq.items) {
        if (!isMap(node)) continue;
        const key = KEY_OF[section](node.toJSON() as Record<string, unknown>);
        if (key !== undefined && !index.has(key)) index.set(key, node);
      }
    }
    this.#index.set(section, index);
    return index;
  }

  /** A list inside an entry (`devices`, `webServiceKeys`), created when absent. */
  list(map: YAMLMap, key: string): YAMLSeq {
    const existing = map.get(key, true);
    if (isSeq(existing)) {
      if (existing.items.length === 0) existing.flow = false;
      return existing;
    }
    const seq = this.doc.createNode([]) as YAMLSeq;
    map.set(key, seq);
    return seq;
  }

  /** Turns a plain value into nodes, double-quoting hashes and digests. */
  node(value: unknown): unknown {
    const node = this.doc.createNode(value);
    visit(node, {
      Scalar(_key, s: Scalar) {
        if (typeof s.value === 'string' && QUOTE_RE.test(s.value)) s.type = Scalar.QUOTE_DOUBLE;
      },
    });
    if (isScalar(node) && typeof node.value === 'string' && QUOTE_RE.test(node.value)) node.type = Scalar.QUOTE_DOUBLE;
    return node;
  }

  /** The text {@link save} would write. */
  toString(): string {
    return this.doc.toString(TO_STRING);
  }

  /**
   * Validates the edited document and replaces the file atomically, keeping its mode (and owner, when run
   * as root). Refuses when the file changed on disk since {@link open} (a concurrent edit would be lost).
   */
  save(): AccountsFile {
    const text = this.toString();
    const data = validateText(this.path, text);
    let current: string | undefined;
    try { current = readFileSync(this.target, 'utf8'); } catch { current = undefined; }
    if (current !== this.original) {
      throw new ConfigError(this.path, ['changed on disk while being edited; nothing written, run the command again']);
    }
    let mode = 0o600;
    let owner: { uid: number; gid: number } | undefined;
    try {
      const st = statSync(this.target);
      mode = st.mode & 0o7777;
      owner = { uid: st.uid, gid: st.gid };
    } catch { /* a new file: owner-only, it names every principal */ }
    const tmp = join(dirname(this.target), `.${basename(this.target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const fd = openSync(tmp, 'wx', mode);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      rmSync(tmp, { force: true });
      throw err;
    }
    closeSync(fd);
    try {
      chmodSync(tmp, mode); // openSync's mode is filtered by the umask
      if (owner !== undefined && process.getuid?.() === 0) chownSync(tmp, owner.uid, owner.gid);
      renameSync(tmp, this.target);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    return data;
  }

  private seq(section: Section): YAMLSeq {
    const existing = this.doc.get(section, true);
    if (isSeq(existing)) {
      if (existing.items.length === 0) existing.flow = false;
      return existing;
    }
    const seq = this.doc.createNode([]) as YAMLSeq;
    this.doc.set(section, seq);
    return seq;
  }
}

function validateText(file: string, text: string): AccountsFile {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  const result = accountsFileSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(file, formatIssues(result.error));
  return result.data;
}
