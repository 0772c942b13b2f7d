/**
 * A small HTTP Digest (RFC 7616) client for tests, written independently of src/ (its own challenge parser
 * and hashing), so the server is checked against a second implementation rather than against itself.
 * Every knob is exposed so attack tests can send what a real client never would.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

export interface DigestChallenge {
  raw: string;
  realm: string;
  nonce: string;
  opaque: string | undefined;
  algorithm: string;
  qop: string[];
  stale: boolean;
  charset: string | undefined;
  userhash: boolean;
}

const NODE_HASH: Record<string, string> = { 'MD5': 'md5', 'SHA-256': 'sha256', 'SHA-512-256': 'sha512-256' };

export function h(algorithm: string, data: string | Buffer): string {
  const base = algorithm.replace(/-sess$/i, '').toUpperCase();
  const name = NODE_HASH[base];
  if (name === undefined) throw new Error(`test client: no hash for ${algorithm}`);
  return createHash(name).update(typeof data === 'string' ? Buffer.from(data, 'utf8') : data).digest('hex');
}

/** Parses one `Digest k=v, k="v"` challenge (quoted-pairs unescaped). */
export function parseChallenge(value: string): DigestChallenge | undefined {
  const m = /^Digest\s+(.*)$/is.exec(value.trim());
  if (m === null) return undefined;
  const params = new Map<string, string>();
  const re = /\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))\s*(?:,|$)/gy;
  const body = m[1]!;
  let p: RegExpExecArray | null;
  let last = 0;
  while ((p = re.exec(body)) !== null) {
    params.set(p[1]!.toLowerCase(), p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!);
    last = re.lastIndex;
  }
  if (last < body.trimEnd().length) throw new Error(`test client: cannot parse challenge ${value}`);
  return {
    raw: value,
    realm: params.get('realm') ?? '',
    nonce: params.get('nonce') ?? '',
    opaque: params.get('opaque'),
    algorithm: params.get('algorithm') ?? 'MD5',
    qop: (params.get('qop') ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''),
    stale: params.get('stale')?.toLowerCase() === 'true',
    charset: params.get('charset'),
    userhash: params.get('userhash')?.toLowerCase() === 'true',
  };
}

/** The Digest challenges among `WWW-Authenticate` values. */
export function digestChallenges(values: readonly string[]): DigestChallenge[] {
  return values.map(parseChallenge).filter((c): c is DigestChallenge => c !== undefined);
}

export interface AuthorizationInput {
  challenge: DigestChallenge;
  username: string;
  password: string;
  method: string;
  uri: string;
  /** Defaults to the challenge's. */
  algorithm?: string;
  /** Defaults to `auth`. */
  qop?: 'auth' | 'auth-int' | string;
  nc?: number;
  cnonce?: string;
  /** Send H(username:realm) as the user name. */
  userhash?: boolean;
  /** Send `username*=UTF-8''…` (RFC 8187). */
  usernameStar?: boolean;
  /** Entity body for auth-int. */
  body?: Buffer;
  /** Overrides of what is sent (the response is computed with the overridden values unless said otherwise). */
  realm?: string;
  nonce?: string;
  /** `null` leaves opaque out. */
  opaque?: string | null;
  /** Replace the computed response. */
  response?: string;
  /** Leave these parameters out. */
  omit?: string[];
}

function quote(s: string): string {
  return `"${s.replace(/["\\]/g, '\\$&')}"`;
}

/** The `Authorization: Digest …` value a conforming client sends. */
export function digestAuthorization(i: AuthorizationInput): string {
  const algorithm = i.algorithm ?? i.challenge.algorithm;
  const realm = i.realm ?? i.challenge.realm;
  const nonce = i.nonce ?? i.challenge.nonce;
  const qop = i.qop ?? 'auth';
  const nc = (i.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = i.cnonce ?? randomBytes(12).toString('base64');
  const user = i.username.normalize('NFC');
  const compute = (): string => {
    let ha1 = h(algorithm, `${user}:${realm}:${i.password.normalize('NFC')}`);
    if (/-sess$/i.test(algorithm)) ha1 = h(algorithm, `${ha1}:${nonce}:${cnonce}`);
    const a2 = qop === 'auth-int' ? `${i.method}:${i.uri}:${h(algorithm, i.body ?? Buffer.alloc(0))}` : `${i.method}:${i.uri}`;
    return h(algorithm, `${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${h(algorithm, a2)}`);
  };
  const response = i.response ?? compute();
  const parts: [string, string][] = [];
  if (i.userhash) parts.push(['username', quote(h(algorithm, `${user}:${realm}`))]); // NB: the hash is the algorithm's
  else if (i.usernameStar) parts.push(['username*', `UTF-8''${encodeURIComponent(user)}`]);
  else parts.push(['username', quote(user)]);
  parts.push(['realm', quote(realm)], ['uri', quote(i.uri)], ['algorithm', algorithm], ['nonce', quote(nonce)],
    ['nc', nc], ['cnonce', quote(cnonce)], ['qop', qop], ['response', quote(response)]);
  const opaque = i.opaque === undefined ? i.challenge.opaque : i.opaque;
  if (opaque !== null && opaque !== undefined) parts.push(['opaque', quote(opaque)]);
  if (i.userhash) parts.push(['userhash', 'true']);
  const omit = new Set(i.omit ?? []);
  return `Digest ${parts.filter(([k]) => !omit.has(k)).map(([k, v]) => `${k}=${v}`).join(', ')}`;
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  /** Every value of every header, unjoined. */
  distinct: Record<string, string[]>;
  body: string;
}

/** One request over node:http (so repeated `WWW-Authenticate` headers stay separate). */
export function send(base: string, opts: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer | string }): Promise<Reply> {
  const url = new URL(opts.path, base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: url.hostname, port: url.port, method: opts.method ?? 'GET', path: opts.path, headers: opts.headers ?? {}, agent: false,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode ?? 0, headers: res.headers, distinct: res.headersDistinct as Record<string, string[]>,
        body: Buffer.concat(chunks).toString('utf8'),
      }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Gets the 401 and its Digest challenges for a request. */
export async function challengesFor(base: string, opts: { method?: string; path: string; headers?: Record<string, string>; body?: Buffer | string }): Promise<DigestChallenge[]> {
  const r = await send(base, opts);
  if (r.status !== 401) throw new Error(`expected 401, got ${r.status} ${r.body}`);
  return digestChallenges(r.distinct['www-authenticate'] ?? []);
}

/** Sends raw bytes on a fresh connection and returns the raw response (e.g. HTTP/1.0 without Host). */
export function rawExchange(base: string, bytes: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
    socket.setTimeout(5000, () => { socket.destroy(); reject(new Error('raw exchange timed out')); });
  });
}
