/**
 * Everything the scenarios authenticate with, generated fresh in the run's temp dir: the accounts file
 * (scrypt, bcrypt `$2y$` cost 5, Digest HA1, instance keys, device tokens), the htpasswd/htdigest files
 * of the peers (the same users and passwords), the token store (SQLite, through trackgate's own store
 * module; copied into a Redis for the Redis-store rows, through trackgate's RedisStore), an outside issuer's
 * key pair and JWKS, and the Digest request lists.
 */
import { createHash, randomBytes, generateKeyPairSync } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { SignJWT, exportJWK } from 'jose';
import { hashPassword } from '../../dist/accounts/password.js';
import { lookupDigest } from '../../dist/accounts/digest-token.js';
import { DatabaseSync } from '../../dist/store/node-sqlite.js';
import { SqliteStore } from '../../dist/store/sqlite.js';
import { have, run } from './procs.js';

export const REALM = 'bench';
export const USER = { name: 'bench-user', password: 'bench-password-1' };
export const BCRYPT_USER = { name: 'bench-bcrypt', password: 'bench-password-2' };
/** A GPS REST v2 web-service key of USER: `POST /rest/v2/token` with `key=` issues a session token (no password hash). */
export const WEB_SERVICE_KEY = 'bench-web-service-key-0123456789abcdef';
export const INSTANCE = { id: 'bench-instance', key: 'bench-instance-key-0123456789', device: 'bench-device', deviceToken: 'bench-device-token-0123456789abcdef' };
export const JWT_ISSUER = 'https://idp.bench.invalid/';
export const JWT_AUDIENCE = 'trackgate-bench';

const md5 = (s) => createHash('md5').update(s, 'latin1').digest('hex');
const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
export const basicHeader = (u) => `Basic ${b64(`${u.name}:${u.password}`)}`;
const tokenValue = () => randomBytes(32).toString('base64url');

async function bcryptLine(name, password) {
  if (have('htpasswd')) {
    const r = await run(['htpasswd', '-nbB', '-C', '5', name, password]);
    if (r.code === 0) return r.stdout.trim();
  }
  const { hash } = await import('bcryptjs');
  return `${name}:${(await hash(password, 5)).replace(/^\$2b\$/, '$2y$')}`;
}

async function apr1Line(name, password) {
  if (have('htpasswd')) {
    const r = await run(['htpasswd', '-nbm', name, password]);
    if (r.code === 0) return r.stdout.trim();
  }
  const { apr1 } = await import('../../dist/accounts/apr1.js');
  return `${name}:${apr1(password, randomBytes(6).toString('base64').replace(/\+/g, '.').slice(0, 8))}`;
}

/** Writes accounts.yaml, the peers' password files, and returns the credentials. */
export async function writeAccounts(dir, { coldUsers }) {
  const ha1 = md5(`${USER.name}:${REALM}:${USER.password}`);
  const cold = Array.from({ length: coldUsers }, (_, i) => ({ name: `bench-cold-${i + 1}`, password: `cold-password-${i + 1}` }));
  const coldBcrypt = Array.from({ length: coldUsers }, (_, i) => ({ name: `bench-cold-bcrypt-${i + 1}`, password: `cold-password-b${i + 1}` }));
  const bcrypt = await bcryptLine(BCRYPT_USER.name, BCRYPT_USER.password);
  const bcryptHash = (line) => line.slice(line.indexOf(':') + 1);
  const coldBcryptLines = await Promise.all(coldBcrypt.map((u) => bcryptLine(u.name, u.password)));
  const users = [
    {
      username: USER.name, password: await hashPassword(USER.password), accounts: ['bench-account'],
      digest: { realm: REALM, ha1: { MD5: ha1 } }, webServiceKeys: [lookupDigest(WEB_SERVICE_KEY)],
    },
    { username: BCRYPT_USER.name, password: bcryptHash(bcrypt), accounts: ['bench-account'] },
    ...await Promise.all(cold.map(async (u) => ({ username: u.name, password: await hashPassword(u.password) }))),
    ...coldBcrypt.map((u, i) => ({ username: u.name, password: bcryptHash(coldBcryptLines[i]) })),
  ];
  if (!users[1].password.startsWith('$2y$05$')) throw new Error(`bcrypt hash is not $2y$05$: ${users[1].password.slice(0, 7)}`);
  const accounts = {
    users,
    userGroups: [{
      instanceId: INSTANCE.id, instanceKey: await hashPassword(INSTANCE.key),
      devices: [{ id: INSTANCE.device, deviceToken: lookupDigest(INSTANCE.deviceToken) }],
    }],
  };
  // JSON is YAML.
  writeFileSync(join(dir, 'accounts.yaml'), JSON.stringify(accounts, null, 1));
  writeFileSync(join(dir, 'htpasswd-apr1'), `${await apr1Line(USER.name, USER.password)}\n`, { mode: 0o644 });
  writeFileSync(join(dir, 'htpasswd-bcrypt'), `${bcrypt}\n`, { mode: 0o644 });
  writeFileSync(join(dir, 'htdigest'), `${USER.name}:${REALM}:${ha1}\n`, { mode: 0o644 });
  writeFileSync(join(dir, 'secret'), randomBytes(32).toString('base64'));
  return { cold, coldBcrypt, ha1 };
}

/**
 * Creates the token store with trackgate's SqliteStore (schema and the named tokens through `putToken`),
 * then bulk-inserts `bulk` session tokens in one transaction (100,000 single-row commits take ~25 s) and
 * reads samples back through SqliteStore.getToken to prove the rows are what the store itself would write.
 */
export async function writeStore(file, { bulk, bulkFile }) {
  const store = new SqliteStore(file);
  const now = Date.now();
  const expiresAt = now + 7 * 24 * 3600 * 1000;
  const base = { issuer: 'bench', kind: 'user', issuedAt: now, expiresAt, account: 'bench-account' };
  const named = { sessionQuery: tokenValue(), sessionCookie: tokenValue(), bearer: tokenValue(), oauth: tokenValue() };
  await store.putToken({ ...base, digest: lookupDigest(named.sessionQuery), type: 'session', subject: 'bench-session-q' });
  await store.putToken({ ...base, digest: lookupDigest(named.sessionCookie), type: 'session', subject: 'bench-session-c' });
  await store.putToken({ ...base, digest: lookupDigest(named.bearer), type: 'access', subject: 'bench-bearer' });
  await store.putToken({ ...base, digest: lookupDigest(named.oauth), type: 'access', subject: 'bench-oauth' });
  await store.close();

  const values = Array.from({ length: bulk }, tokenValue);
  const db = new DatabaseSync(file);
  const ins = db.prepare(`INSERT INTO tokens (digest, type, issuer, subject, kind, account, issued_at, expires_at)
    VALUES (?, 'session', 'bench', ?, 'user', 'bench-account', ?, ?)`);
  db.exec('BEGIN');
  values.forEach((v, i) => ins.run(lookupDigest(v), `bench-churn-${i}`, now, expiresAt));
  db.exec('COMMIT');
  db.close();
  writeFileSync(bulkFile, `${values.join('\n')}\n`);

  const check = new SqliteStore(file);
  for (const [i, v] of [[0, values[0]], [bulk - 1, values[bulk - 1]]]) {
    const rec = await check.getToken(lookupDigest(v));
    if (rec?.subject !== `bench-churn-${i}` || rec.type !== 'session' || rec.expiresAt !== expiresAt) throw new Error('bulk token read-back failed');
  }
  await check.close();
  return named;
}

/**
 * Copies the tokens {@link writeStore} wrote (the `named` ones and every session token of `bulkFile`) from the
 * SQLite store `sqliteFile` into the Redis at `url`: each record read with SqliteStore.getToken and written with
 * trackgate's RedisStore.putToken, so Redis holds exactly what the store itself writes (its Lua script: a
 * `tg:tok:<digest>` hash expiring an hour after the token, and the `tg:sub:<subject>` listing index). Up to
 * `inFlight` writes are outstanding at once (the 100,000 writes alone: ~10 s one by one, ~3 s so; the whole copy
 * with the SQLite reads took 6–12 s on the shared 2-core machine).
 * Then reads the named tokens and samples of the bulk ones back through RedisStore.getToken (each must equal
 * its SQLite record) and checks the key count. Resolves `{ tokens, keys, usedMemory }`.
 */
export async function copyStoreToRedis(sqliteFile, url, { named, bulkFile, inFlight = 1000 }) {
  const bulk = readFileSync(bulkFile, 'utf8').split('\n').filter((v) => v !== '');
  const digests = [...Object.values(named), ...bulk].map(lookupDigest);
  // Loaded only for the Redis rows (ioredis). The store takes a resolved connection, as openStore builds it.
  const { RedisStore } = await import('../../dist/store/redis.js');
  const { redisConnection } = await import('../../dist/store/redis-connection.js');
  const sqlite = new SqliteStore(sqliteFile);
  const redis = new RedisStore(redisConnection({ url }));
  try {
    if (!(await redis.waitReady(5000))) throw new Error(`Redis at ${url} not ready`);
    const subjects = new Set();
    for (let i = 0; i < digests.length; i += inFlight) {
      const recs = await Promise.all(digests.slice(i, i + inFlight).map((d) => sqlite.getToken(d)));
      const missing = recs.findIndex((r) => r === undefined);
      if (missing >= 0) throw new Error(`token ${i + missing} is not in the SQLite store`);
      for (const r of recs) subjects.add(r.subject);
      await Promise.all(recs.map((r) => redis.putToken(r)));
    }
    const samples = [...Array(Object.keys(named).length + 1).keys(), digests.length - 1];
    for (let k = 0; k < 100; k++) samples.push(Math.floor(Math.random() * digests.length));
    for (const i of samples) {
      const [want, got] = [await sqlite.getToken(digests[i]), await redis.getToken(digests[i])];
      if (!isDeepStrictEqual(got, want)) throw new Error(`Redis token read-back failed (token ${i}): ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
    }
    const keys = await redis.redis.dbsize();
    if (keys !== digests.length + subjects.size) throw new Error(`Redis holds ${keys} keys, expected ${digests.length} tokens + ${subjects.size} subject indexes`);
    const usedMemory = /^used_memory_human:(\S+)/m.exec(await redis.redis.info('memory'))?.[1];
    return { tokens: digests.length, keys, usedMemory };
  } finally {
    await sqlite.close();
    await redis.close();
  }
}

/** An outside issuer: ES256 key pair, its public JWKS document, and one signed access token. */
export async function externalIssuer() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = 'bench-idp-1';
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const token = await new SignJWT({ scope: 'read' })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
    .setIssuer(JWT_ISSUER).setAudience(JWT_AUDIENCE).setSubject('bench-external-user')
    .setIssuedAt().setExpirationTime('6h')
    .sign(privateKey);
  return { jwks: { keys: [jwk] }, token };
}

/** The `WWW-Authenticate` values of a 401 from `port` (each challenge separately). */
export function challenges(port, path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      const out = [];
      for (let i = 0; i < res.rawHeaders.length; i += 2) {
        if (res.rawHeaders[i].toLowerCase() === 'www-authenticate') out.push(res.rawHeaders[i + 1]);
      }
      res.on('end', () => resolve({ status: res.statusCode, challenges: out }));
    });
    req.on('error', reject);
    req.end();
  });
}

function authParams(challenge) {
  const out = {};
  const re = /([A-Za-z0-9_-]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g;
  let m;
  while ((m = re.exec(challenge)) !== null) out[m[1].toLowerCase()] = m[2] ?? m[3];
  return out;
}

/**
 * Writes `count` MD5 Digest (nc, response) lines for a fresh challenge from `port`, and returns the
 * Authorization header template (`{1}` nc, `{2}` response, `{3}` nonce, `{4}` opaque) and the data file.
 *
 * The first `lead` lines (two per wrk connection) use a second nonce of their own: wrk writes each
 * connection's first request as soon as it connects, but the server may accept the last connections only
 * hundreds of requests later, and a count that far behind is below trackgate's replay window (256) and
 * answered `stale` (fail closed). A client with one connection per nonce never sees that.
 */
export async function digestRun({ port, path, file, count, ha1, user = USER.name, lead = 0 }) {
  const fetchChallenge = async () => {
    const { status, challenges: list } = await challenges(port, path);
    const ch = list.find((c) => /^Digest /i.test(c) && (!/algorithm=/i.test(c) || /algorithm="?MD5"?(,|$|\s)/i.test(c)));
    if (status !== 401 || ch === undefined) throw new Error(`no MD5 Digest challenge from port ${port} (status ${status}: ${list.join(' | ')})`);
    const p = authParams(ch);
    const qop = (p.qop ?? 'auth').split(',').map((s) => s.trim());
    if (!qop.includes('auth')) throw new Error(`Digest challenge offers no qop=auth: ${ch}`);
    return p;
  };
  const main = await fetchChallenge();
  const first = lead > 0 ? await fetchChallenge() : undefined;
  const cnonce = randomBytes(8).toString('hex');
  const ha2 = md5(`GET:${path}`);
  const line = (p, i) => {
    const nc = i.toString(16).padStart(8, '0');
    return `${nc}\t${md5(`${ha1}:${p.nonce}:${nc}:${cnonce}:auth:${ha2}`)}\t${p.nonce}\t${p.opaque ?? '-'}`;
  };
  const lines = [];
  for (let i = 1; i <= lead; i++) lines.push(line(first, i));
  for (let i = 1; i <= count; i++) lines.push(line(main, i));
  writeFileSync(file, `${lines.join('\n')}\n`);
  const opaque = main.opaque === undefined ? '' : ', opaque="{4}"';
  return {
    file,
    header: `Digest username="${user}", realm="${main.realm}", nonce="{3}", uri="${path}", algorithm=MD5, qop=auth, nc={1}, cnonce="${cnonce}", response="{2}"${opaque}`,
  };
}
