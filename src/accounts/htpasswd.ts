/**
 * Apache `htpasswd` files: one `user:hash` per line. Read the way Apache's mod_authn_file reads them: each
 * line trimmed, `#` lines and blank lines skipped, the user ends at the first `:`, the hash at the next one
 * (any further fields are ignored), and the first line for a user wins. CRLF and a UTF-8 BOM are accepted.
 *
 * Lines trackgate cannot use (no `:`, an empty user or hash, a plain-text or crypt(3) DES password, a user
 * name that could never be sent in Basic) are returned as problems, with their line number and never with
 * the hash itself (it may be a plain-text password).
 */
import { hashFormat, hashProblem, type HashFormat } from './password.js';

export interface HtpasswdEntry {
  username: string;
  /** The hash as written in the file (a format {@link hashFormat} accepts). */
  password: string;
  format: HashFormat;
  /** 1-based line number. */
  line: number;
}

export interface HtpasswdProblem {
  line: number;
  message: string;
}

export interface ParsedHtpasswd {
  entries: HtpasswdEntry[];
  problems: HtpasswdProblem[];
}

// C0 controls and DEL can never be part of a Basic user-id (RFC 7617 §2); Basic rejects them.
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses an htpasswd file's content (a Buffer must be UTF-8). */
export function parseHtpasswd(content: string | Uint8Array): ParsedHtpasswd {
  let text: string;
  if (typeof content === 'string') {
    text = content;
  } else {
    try {
      text = utf8.decode(content);
    } catch {
      throw new Error('not valid UTF-8 (user names must be UTF-8, as Basic sends them)');
    }
  }
  if (text.startsWith('\uFEFF')) text = text.slice(1);

  const entries: HtpasswdEntry[] = [];
  const problems: HtpasswdProblem[] = [];
  const seen = new Map<string, number>();
  const lines = text.split(/\r\n|\n|\r/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const l = raw.trim();
    if (l === '' || l.startsWith('#')) return;
    const colon = l.indexOf(':');
    if (colon < 0) {
      problems.push({ line, message: 'no ":" between user and hash' });
      return;
    }
    const username = l.slice(0, colon);
    const rest = l.slice(colon + 1);
    const end = rest.indexOf(':');
    const password = end < 0 ? rest : rest.slice(0, end);
    if (username === '') {
      problems.push({ line, message: 'empty user name' });
      return;
    }
    if (CONTROL_RE.test(username)) {
      problems.push({ line, message: 'user name contains control characters' });
      return;
    }
    const key = username.normalize('NFC');
    const first = seen.get(key);
    if (first !== undefined) {
      problems.push({ line, message: `user "${username}" already defined on line ${first} (the first one counts, as in Apache)` });
      return;
    }
    seen.set(key, line);
    if (password === '') {
      problems.push({ line, message: `user "${username}": empty password hash` });
      return;
    }
    const format = hashFormat(password);
    if (format === undefined) {
      problems.push({ line, message: `user "${username}": ${hashProblem(password)!}` });
      return;
    }
    entries.push({ username, password, format, line });
  });
  return { entries, problems };
}
