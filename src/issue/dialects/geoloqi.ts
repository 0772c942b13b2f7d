/**
 * Geoloqi (seed: geoloqi-authentication.txt), under `prefix` (`/1`, the Geoloqi API version):
 *
 * | endpoint                   | client authentication                  | request                                    | 200                                                        |
 * |----------------------------|----------------------------------------|--------------------------------------------|------------------------------------------------------------|
 * | `POST /1/oauth/token`      | `client_id` + `client_secret`          | `grant_type=client_credentials`            | application token `{access_token, token_type, expires_in}` |
 * | `POST /1/oauth/token`      | `client_id` [+ `client_secret`]        | `grant_type=password`, `username`, `password` | user token, same shape                                  |
 * | `POST /1/user/create_anon` | `client_id` [+ `client_secret`]        | [`key`] [`extra`]                          | `{display_name: "Anonymous", username: "_…", user_id, is_anonymous: 1, key, access_token, extra}` |
 * | `POST /1/user/create`      | `client_id` [+ `client_secret`]        | `username`, `password` [`email`, `name`, `key`, `extra`] | `{display_name, username, user_id, is_anonymous: 0, key, access_token, extra}` |
 *
 * Bodies are form-urlencoded or JSON. The client (an accounts-file `applications` entry) authenticates with
 * `client_id`/`client_secret` in the body or with HTTP Basic (RFC 6749 §2.3.1), never both; the secret is a
 * password hash, checked with the same throttle as every password (per `client:<id>` and per address).
 * `extra` is a JSON object (JSON body), a JSON string, or `extra[name]=value` form fields.
 *
 * Tokens are opaque `access` records (256 random bits, stored by digest), accepted on the proxy path by the
 * `oauth-header` form (`Authorization: OAuth <token>`, `?access_token=`) and by `bearer`, hence
 * `token_type: "bearer"`. Application tokens: `kind: app`, `sub` = client id; they may act for any `user_id`.
 * User tokens: `kind: user` (named) or `anonymous`, `sub` = `user_id` (accounts-file users: their id/username);
 * they may act only for themselves. `data.client_id` names the application that obtained the token.
 *
 * Users created here are durable in the store (the store is their source of truth; passwords are scrypt
 * hashes). A username taken in the accounts file or the store → 409 `duplicate_username`; usernames starting
 * with `_` are reserved for anonymous users. The password grant tries the accounts file first, then the store.
 *
 * De-duplication `key` (unique per application): `create_anon` with a key that already has a user answers
 * with that user, and a NEW access token for it (only digests are stored, so the first token cannot be handed
 * out again; the first stays valid), but only when the client secret was given and verified; without it,
 * 409 `duplicate_key` exactly as the seed shows. `user/create` with a taken key is always 409 `duplicate_key`
 * (it never hands out another user's token).
 *
 * Errors, everywhere in this dialect: `{"error_code": <status>, "error": "<code>", "error_description": "…"}`:
 * 400 `invalid_request`, 401 `invalid_client`, 400 `invalid_grant`, 400 `unsupported_grant_type`,
 * 409 `duplicate_key` / `duplicate_username`, 429 `slow_down` (with Retry-After), 503 `temporarily_unavailable`.
 */
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { TrackgateError, type AuthReason, type ErrorCode } from '../../errors.js';
import { hashPassword } from '../../accounts/password.js';
import type { ApplicationRecord } from '../../accounts/schema.js';
import { authorizationParams } from '../../authn/authorization-header.js';
import { decodeBasic } from '../../authn/forms/basic.js';
import type { StoredUser } from '../../store/types.js';
import type { ThrottleKey } from '../../store/throttle.js';
import { secondsLeft } from '../access-jwt.js';
import { stringField } from '../body.js';
import type { Subject } from '../tokens.js';
import { defineDialect, type IssueDeps, type IssueReply, type IssueRequest } from '../types.js';

const ID = 'geoloqi';

/** Largest `extra` object kept with a user (serialised JSON). */
export const MAX_EXTRA_BYTES = 8 * 1024;
const MAX_USERNAME = 128;
const MAX_PASSWORD = 1024;
const MAX_KEY = 256;
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The Geoloqi `error` code of errors this dialect throws itself (others are mapped from the TrackgateError code). */
const geoCodes = new WeakMap<TrackgateError, string>();

interface Client {
  readonly app: ApplicationRecord;
  /** Whether the client secret was presented and verified (a confidential request). */
  readonly secretVerified: boolean;
}

export const geoloqi = defineDialect({
  id: ID,
  options: z.object({
    enabled: z.boolean().default(true).describe('Serve the Geoloqi endpoints: `POST <prefix>/oauth/token`, `<prefix>/user/create_anon`, `<prefix>/user/create`.'),
    prefix: z.string().regex(/^\/[^?#]*[^/]$/).default('/1').describe('Path prefix of the Geoloqi endpoints (the Geoloqi API version, `/1`).'),
    userTokenTtlSeconds: z.number().int().min(60).max(10 * 365 * 86400).default(365 * 86400)
      .describe('User access token lifetime (`expires_in`). Anonymous users have no password: when their token expires they cannot log in again, so keep it long.'),
    appTokenTtlSeconds: z.number().int().min(60).max(365 * 86400).default(30 * 86400)
      .describe('Application access token lifetime (`grant_type=client_credentials`).'),
    minPasswordLength: z.number().int().min(1).max(128).default(8).describe('Shortest password `user/create` accepts.'),
  }),
  create(options, deps) {
    const base = options.prefix;

    const tokenReply = (value: string, expiresAt: number): IssueReply => ({
      status: 200,
      body: { access_token: value, token_type: 'bearer', expires_in: secondsLeft(expiresAt, deps.now()) },
    });

    const issueUserToken = async (user: StoredUser, clientId: string) => (await deps.tokens.issue({
      type: 'access', issuer: ID, subject: user.id, kind: user.anonymous ? 'anonymous' : 'user',
      ttlSeconds: options.userTokenTtlSeconds, data: { client_id: clientId },
    })).value;

    const userReply = (user: StoredUser, accessToken: string): IssueReply => ({
      status: 200,
      body: {
        display_name: user.displayName,
        username: user.username,
        user_id: user.id,
        is_anonymous: user.anonymous ? 1 : 0,
        key: user.key ?? null,
        ...(user.email !== undefined ? { email: user.email } : {}),
        access_token: accessToken,
        extra: user.extra ?? {},
      },
    });

    /** A user that already has this application's `key`: its token for a confidential request, else 409. */
    const existingKey = async (user: StoredUser, client: Client): Promise<IssueReply> => {
      if (!client.secretVerified) {
        throw geoError(409, 'duplicate_key', 'A user already exists with this key.', 'TG_ERR_BAD_REQUEST', 'invalid', 'key taken; no client secret given');
      }
      return userReply(user, await issueUserToken(user, client.app.clientId));
    };

    /** Creates a user with a fresh random id (again on the negligible chance of an id clash). */
    const createUser = async (make: (id: string) => StoredUser): Promise<{ user: StoredUser; result: 'created' | 'duplicate_username' | 'duplicate_key' }> => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const user = make(randomString(10));
        const result = await deps.store.createUser(user);
        if (result !== 'duplicate_id') return { user, result };
      }
      throw new TrackgateError('TG_ERR_INTERNAL', 'internal error', { detail: 'could not draw a free user id' });
    };

    return {
      id: ID,
      routes: [
        {
          method: 'POST', path: `${base}/oauth/token`,
          async handle(req) {
            const body = await req.body();
            const grantType = stringField(body, 'grant_type');
            if (grantType === 'client_credentials') {
              const client = await authenticateClient(deps, req, body, true);
              const { value, record } = await deps.tokens.issue({
                type: 'access', issuer: ID, subject: client.app.clientId, kind: 'app',
                ttlSeconds: options.appTokenTtlSeconds, data: { client_id: client.app.clientId },
              });
              return tokenReply(value, record.expiresAt);
            }
            if (grantType === 'password') {
              const username = stringField(body, 'username');
              const password = stringField(body, 'password');
              if (username === undefined || username === '' || password === undefined) {
                throw geoError(400, 'invalid_request', 'username and password required', 'TG_ERR_BAD_REQUEST', 'malformed');
              }
              const client = await authenticateClient(deps, req, body, false);
              const subject = await checkPassword(deps, req, username, password);
              const { value, record } = await deps.tokens.issue({
                ...subject, type: 'access', issuer: ID, ttlSeconds: options.userTokenTtlSeconds, data: { client_id: client.app.clientId },
              });
              return tokenReply(value, record.expiresAt);
            }
            if (grantType === undefined || grantType === '') {
              throw geoError(400, 'invalid_request', 'grant_type required', 'TG_ERR_BAD_REQUEST', 'malformed');
            }
            throw geoError(400, 'unsupported_grant_type', 'grant_type must be client_credentials or password', 'TG_ERR_BAD_REQUEST', 'malformed');
          },
        },
        {
          method: 'POST', path: `${base}/user/create_anon`,
          async handle(req) {
            const body = await req.body();
            const client = await authenticateClient(deps, req, body, false);
            const key = keyField(body);
            const extra = extraField(body);
            const clientId = client.app.clientId;
            if (key !== undefined) {
              const existing = await deps.store.getUserByKey(clientId, key);
              if (existing !== undefined) return existingKey(existing, client);
            }
            const { user, result } = await createUser((id) => ({
              id, username: `_${randomString(17)}`, app: clientId, anonymous: true, displayName: 'Anonymous', createdAt: deps.now(),
              ...(key !== undefined ? { key } : {}), ...(extra !== undefined ? { extra } : {}),
            }));
            if (result === 'created') return userReply(user, await issueUserToken(user, clientId));
            if (result === 'duplicate_key' && key !== undefined) {
              // A concurrent request with the same key won: answer as if it had come first.
              const existing = await deps.store.getUserByKey(clientId, key);
              if (existing !== undefined) return existingKey(existing, client);
            }
            throw new TrackgateError('TG_ERR_INTERNAL', 'internal error', { detail: `create_anon: ${result}` });
          },
        },
        {
          method: 'POST', path: `${base}/user/create`,
          async handle(req) {
            const body = await req.body();
            const client = await authenticateClient(deps, req, body, false);
            const clientId = client.app.clientId;
            const username = usernameField(body);
            const password = stringField(body, 'password');
            if (password === undefined || password.length < options.minPasswordLength || password.length > MAX_PASSWORD) {
              throw geoError(400, 'invalid_request', `password must be ${options.minPasswordLength} to ${MAX_PASSWORD} characters`, 'TG_ERR_BAD_REQUEST', 'malformed');
            }
            const email = emailField(body);
            const name = displayNameField(body);
            const key = keyField(body);
            const extra = extraField(body);
            // Cheap checks before the password hash; createUser re-checks atomically.
            if (deps.accounts().user(username) !== undefined || await deps.store.getUserByUsername(username) !== undefined) throw duplicateUsername();
            if (key !== undefined && await deps.store.getUserByKey(clientId, key) !== undefined) throw duplicateKey();
            const hash = await hashPassword(password);
            const { user, result } = await createUser((id) => ({
              id, username, password: hash, app: clientId, anonymous: false, displayName: name ?? username, createdAt: deps.now(),
              ...(email !== undefined ? { email } : {}), ...(key !== undefined ? { key } : {}), ...(extra !== undefined ? { extra } : {}),
            }));
            if (result === 'duplicate_username') throw duplicateUsername();
            if (result === 'duplicate_key') throw duplicateKey();
            return userReply(user, await issueUserToken(user, clientId));
          },
        },
      ],
      renderError(err) {
        const own = geoCodes.get(err);
        const status = err.status;
        const code = own ?? geoCodeOf(err);
        return { status, body: { error_code: status, error: code, error_description: err.message } };
      },
    };
  },
});

/**
 * The application a request authenticates as: `client_id` [+ `client_secret`] in the body, or HTTP Basic
 * `client_id:client_secret` (form-encoded, RFC 6749 §2.3.1). `requireSecret`: a confidential grant.
 */
async function authenticateClient(deps: IssueDeps, req: IssueRequest, body: Record<string, unknown>, requireSecret: boolean): Promise<Client> {
  let clientId = stringField(body, 'client_id');
  let secret = stringField(body, 'client_secret');
  const basic = authorizationParams(req.view, 'Basic');
  const viaBasic = basic !== undefined;
  if (basic !== undefined) {
    if (secret !== undefined || (clientId !== undefined && clientId !== '')) {
      throw geoError(400, 'invalid_request', 'client credentials in both the body and the Authorization header', 'TG_ERR_BAD_REQUEST', 'ambiguous');
    }
    let decoded: { username: string; password: string };
    try {
      decoded = decodeBasic(basic);
    } catch {
      throw geoError(400, 'invalid_request', 'malformed Basic client credentials', 'TG_ERR_BAD_REQUEST', 'malformed');
    }
    clientId = formDecode(decoded.username);
    secret = formDecode(decoded.password);
  }
  if (clientId === undefined || clientId === '') {
    throw geoError(400, 'invalid_request', 'client_id required', 'TG_ERR_BAD_REQUEST', 'malformed');
  }
  const headers = viaBasic ? { 'www-authenticate': 'Basic realm="geoloqi"' } : undefined;
  const invalidClient = (detail: string) => geoError(401, 'invalid_client', 'Invalid client credentials.', 'TG_ERR_INVALID_CREDENTIALS', 'invalid', detail, headers);
  const keys: ThrottleKey[] = [{ scope: 'user', value: `client:${clientId}` }, { scope: 'ip', value: req.view.remoteAddress }];
  if (secret === undefined || secret === '') {
    if (requireSecret) throw invalidClient('client_secret required for this grant');
    const app = deps.accounts().application(clientId);
    if (app === undefined) {
      await deps.throttle.fail([keys[1]!]);
      throw invalidClient('unknown client_id');
    }
    return { app, secretVerified: false };
  }
  await deps.throttle.check(keys);
  const app = deps.accounts().application(clientId);
  const ok = await deps.passwords.verifyOne(app?.clientSecret, secret, undefined, async () => deps.throttle.fail(keys));
  // A failure came from verifyOne, which recorded it with the throttle before its padding.
  if (!ok || app === undefined) {
    throw invalidClient(app === undefined ? 'unknown client_id' : 'wrong client_secret');
  }
  await deps.throttle.succeed(keys);
  return { app, secretVerified: true };
}

/**
 * The password grant's user: the accounts file first, then users created through this dialect. Throttled per
 * user name and address like every password check; an unknown user costs a dummy hash.
 */
async function checkPassword(deps: IssueDeps, req: IssueRequest, username: string, password: string): Promise<Subject> {
  const keys: ThrottleKey[] = [{ scope: 'user', value: username }, { scope: 'ip', value: req.view.remoteAddress }];
  await deps.throttle.check(keys);
  // Timed from before the lookup: the store round trip for names not in the accounts file is inside the floor.
  const started = deps.passwords.start();
  const fileUser = deps.accounts().user(username);
  let subject: Subject | undefined;
  let hash: string | undefined;
  if (fileUser !== undefined) {
    hash = fileUser.password;
    subject = { subject: fileUser.id ?? fileUser.username, kind: 'user', ...(fileUser.accounts[0] !== undefined ? { account: fileUser.accounts[0] } : {}) };
  } else {
    const stored = await deps.store.getUserByUsername(username.normalize('NFC'));
    if (stored !== undefined) {
      hash = stored.password;
      subject = { subject: stored.id, kind: stored.anonymous ? 'anonymous' : 'user' };
    }
  }
  const ok = await deps.passwords.verifyOne(hash, password, started, async () => deps.throttle.fail(keys));
  // A failure came from verifyOne, which recorded it with the throttle before its padding.
  if (!ok || subject === undefined) {
    throw geoError(400, 'invalid_grant', 'Invalid username or password.', 'TG_ERR_INVALID_CREDENTIALS', 'invalid',
      subject === undefined ? 'unknown user' : hash === undefined ? 'user has no password' : 'wrong password');
  }
  await deps.throttle.succeed(keys);
  return subject;
}

function geoError(
  status: number, code: string, description: string, tgCode: ErrorCode, reason: AuthReason, detail?: string, headers?: Record<string, string>,
): TrackgateError {
  const err = new TrackgateError(tgCode, description, {
    status, reason, ...(detail !== undefined ? { detail } : {}), ...(headers !== undefined ? { headers } : {}),
  });
  geoCodes.set(err, code);
  return err;
}

const duplicateUsername = () => geoError(409, 'duplicate_username', 'A user already exists with this username.', 'TG_ERR_BAD_REQUEST', 'invalid', 'username taken');
const duplicateKey = () => geoError(409, 'duplicate_key', 'A user already exists with this key.', 'TG_ERR_BAD_REQUEST', 'invalid', 'key taken');
const badField = (message: string) => geoError(400, 'invalid_request', message, 'TG_ERR_BAD_REQUEST', 'malformed');

/** Geoloqi `error` codes for trackgate's own errors (body parsing, throttling, store outages …). */
function geoCodeOf(err: TrackgateError): string {
  switch (err.code) {
    case 'TG_ERR_THROTTLED': return 'slow_down';
    case 'TG_ERR_METHOD_NOT_ALLOWED': return 'method_not_allowed';
    case 'TG_ERR_INVALID_CREDENTIALS':
    case 'TG_ERR_EXPIRED_CREDENTIALS':
      return 'invalid_grant';
    default:
      return err.status >= 500 ? (err.status === 503 ? 'temporarily_unavailable' : 'server_error') : 'invalid_request';
  }
}

/** `application/x-www-form-urlencoded` decoding of Basic client credentials (RFC 6749 §2.3.1). */
function formDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function randomString(n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += ALNUM[randomInt(ALNUM.length)];
  return out;
}

function usernameField(body: Record<string, unknown>): string {
  const raw = stringField(body, 'username');
  if (raw === undefined || raw === '') throw badField('username required');
  const username = raw.normalize('NFC');
  if (username.length > MAX_USERNAME || CONTROL_RE.test(username) || username.includes(':') || username.trim() !== username) {
    throw badField(`username must be at most ${MAX_USERNAME} characters, without ":", control characters or surrounding spaces`);
  }
  if (username.startsWith('_')) throw badField('usernames starting with "_" are reserved for anonymous users');
  return username;
}

function keyField(body: Record<string, unknown>): string | undefined {
  const key = stringField(body, 'key');
  if (key === undefined || key === '') return undefined;
  if (key.length > MAX_KEY || CONTROL_RE.test(key)) throw badField(`key must be at most ${MAX_KEY} characters without control characters`);
  return key;
}

function emailField(body: Record<string, unknown>): string | undefined {
  const email = stringField(body, 'email');
  if (email === undefined || email === '') return undefined;
  if (email.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(email) || CONTROL_RE.test(email)) throw badField('email is not an e-mail address');
  return email;
}

function displayNameField(body: Record<string, unknown>): string | undefined {
  const name = stringField(body, 'name') ?? stringField(body, 'display_name');
  if (name === undefined || name === '') return undefined;
  if (name.length > MAX_USERNAME || CONTROL_RE.test(name)) throw badField(`name must be at most ${MAX_USERNAME} characters without control characters`);
  return name;
}

/**
 * `extra`: a JSON object (JSON body), a JSON object in a string (form body), and/or `extra[name]=value` form
 * fields. Built with Object.fromEntries, so a `__proto__` name is an ordinary own property.
 */
function extraField(body: Record<string, unknown>): Record<string, unknown> | undefined {
  const entries: [string, unknown][] = [];
  let present = false;
  const raw = body.extra;
  if (raw !== undefined && raw !== null && raw !== '') {
    let obj: unknown = raw;
    if (typeof raw === 'string') {
      try {
        obj = JSON.parse(raw);
      } catch {
        throw badField('extra must be a JSON object');
      }
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw badField('extra must be a JSON object');
    entries.push(...Object.entries(obj));
    present = true;
  }
  for (const [k, v] of Object.entries(body)) {
    const m = /^extra\[([^[\]]+)\]$/.exec(k);
    if (m) { entries.push([m[1]!, v]); present = true; }
  }
  if (!present) return undefined;
  const extra = Object.fromEntries(entries);
  if (Buffer.byteLength(JSON.stringify(extra)) > MAX_EXTRA_BYTES) throw badField(`extra must be at most ${MAX_EXTRA_BYTES} bytes of JSON`);
  return extra;
}
