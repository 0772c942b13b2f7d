/**
 * Apache `htdigest` files: one `user:realm:md5hex` line per user and realm, where md5hex is
 * MD5(user ":" realm ":" password), i.e. exactly the HTTP Digest HA1 for the MD5 algorithms. As Apache's
 * mod_authn_file does, blank lines and lines starting with `#` are skipped.
 *
 * This is the pure half of an import: it turns the file into the accounts file's `digest` material
 * (`{ realm, ha1: { MD5 } }`); merging into users is the import command's job.
 */
import type { DigestMaterial } from './schema.js';

export interface HtdigestEntry {
  username: string;
  digest: DigestMaterial & { ha1: { 'MD5': string } };
}

export class HtdigestError extends Error {
  constructor(readonly line: number, problem: string) {
    super(`htdigest line ${line}: ${problem}`);
    this.name = 'HtdigestError';
  }
}

const MD5_HEX = /^[0-9a-fA-F]{32}$/;

/**
 * Parses an htdigest file. With `realm`, only that realm's lines are returned (an htdigest file may hold
 * several realms; trackgate's Digest form serves one). Throws an {@link HtdigestError} naming the line for
 * a malformed line or a repeated (user, realm) pair; error messages never quote a hash.
 */
export function parseHtdigest(text: string, opts: { realm?: string } = {}): HtdigestEntry[] {
  const out: HtdigestEntry[] = [];
  const seen = new Set<string>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const n = i + 1;
    const line = raw.trimEnd();
    if (line === '' || line.startsWith('#')) return;
    const parts = line.split(':');
    if (parts.length !== 3) throw new HtdigestError(n, `expected user:realm:hash, found ${parts.length} field(s)`);
    const [username, realm, hash] = parts as [string, string, string];
    if (username === '') throw new HtdigestError(n, 'empty user name');
    if (realm === '') throw new HtdigestError(n, 'empty realm');
    if (!MD5_HEX.test(hash)) throw new HtdigestError(n, 'hash is not 32 hex digits (MD5)');
    if (/[\u0000-\u001f\u007f]/.test(username + realm)) throw new HtdigestError(n, 'control character in user name or realm');
    const key = `${username}\0${realm}`;
    if (seen.has(key)) throw new HtdigestError(n, `user "${username}" repeated for realm "${realm}"`);
    seen.add(key);
    if (opts.realm !== undefined && realm !== opts.realm) return;
    out.push({ username, digest: { realm, ha1: { 'MD5': hash.toLowerCase() } } });
  });
  return out;
}
