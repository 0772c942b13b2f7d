/**
 * The shared refresh endpoint (src/issue/shared-refresh.ts) and telematics' own RefreshToken, driven through
 * the token side alone, no HTTP: the registry's dialects and the router composed here over a real SQLite
 * store (a trackgate's) behind a decorator that records every token read. One refresh digests the presented
 * token once and reads its record once.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { lookupDigest } from '../../src/accounts/digest-token.js';
import { AccountDirectory } from '../../src/accounts/directory.js';
import { accountsFileSchema } from '../../src/accounts/schema.js';
import { RefreshRotation } from '../../src/issue/refresh.js';
import { DIALECTS } from '../../src/issue/registry.js';
import { IssueRouter } from '../../src/issue/router.js';
import { serveIssue } from '../../src/issue/serve.js';
import { TokenService } from '../../src/issue/tokens.js';
import type { IssueDeps, IssueReply, IssueRequest } from '../../src/issue/types.js';
import type { Store } from '../../src/store/types.js';
import { startGate, type Gate } from '../helpers/gate.js';
import { DEMO, DEMO_ACCOUNTS } from '../helpers/trackgate.js';

let gate: Gate;
let rotation: RefreshRotation;
let router: IssueRouter;
/** Digests passed to `getToken`, in order. */
const reads: string[] = [];

/** `store` with every `getToken` recorded; everything else passes through unchanged. */
function recordingReads(store: Store): Store {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'getToken') return (digest: string) => { reads.push(digest); return target.getToken(digest); };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

beforeAll(async () => {
  gate = await startGate();
  const store = recordingReads(gate.app.store);
  const tokens = new TokenService(store, Date.now);
  rotation = new RefreshRotation(tokens, store, () => 10, Date.now);
  const accounts = new AccountDirectory(accountsFileSchema.parse(parse(readFileSync(DEMO_ACCOUNTS, 'utf8'))));
  const deps: IssueDeps = {
    accounts: () => accounts, store, tokens, throttle: gate.app.throttle, passwords: gate.app.passwords, refresh: rotation,
    signJwt: (claims, typ) => gate.app.minter.signJwt(claims, typ), logger: gate.app.logger, now: Date.now,
  };
  router = new IssueRouter(DIALECTS.map((m) => m.create(m.options.parse({}) as never, deps)), rotation);
});
afterAll(async () => { await gate.close(); });
beforeEach(() => { reads.length = 0; });

function post(path: string, body: Record<string, unknown>): Promise<IssueReply> {
  const req: IssueRequest = {
    view: {
      method: 'POST', url: path, path, headers: {}, httpVersion: '1.1', secure: false, remoteAddress: '127.0.0.1',
      query: () => undefined, cookie: () => undefined,
    },
    body: async () => body,
    authenticate: async () => undefined,
    challengeOf: () => [],
    statusText: () => 'Unauthorized',
  };
  return serveIssue(router.match('POST', path)!, req);
}

const pairOf = (issuer: string) => rotation.issuePair({ subject: DEMO.user, kind: 'user' }, { issuer, accessTtlSeconds: 3600, refreshTtlSeconds: 86400 });

describe('POST /auth/refresh', () => {
  it('one refresh reads the presented refresh token\'s record once, and nothing else', async () => {
    const pair = await pairOf('oauth2_password');
    reads.length = 0;
    const reply = await post('/auth/refresh', { refresh_token: pair.refresh.value });
    expect(reply.status).toBe(200);
    expect(Object.keys(reply.body as object).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'token_type']);
    expect(reads).toEqual([lookupDigest(pair.refresh.value)]);
  });

  it('answers in the issuing dialect\'s shape whatever field was used', async () => {
    const pair = await pairOf('fleet_login');
    reads.length = 0;
    const reply = await post('/auth/refresh', { refresh_token: pair.refresh.value });
    expect(reply).toMatchObject({ status: 200, body: { success: true, guid: pair.family } });
    expect(reads).toEqual([lookupDigest(pair.refresh.value)]);
  });

  it('an error before the token is known comes in the shape of the field\'s dialect, and carries the error', async () => {
    const reply = await post('/auth/refresh', { refreshToken: 'no-such-token' });
    expect(reply).toMatchObject({ status: 401, body: { success: false, message: 'invalid refresh token' } });
    expect(reply.error).toMatchObject({ code: 'TG_ERR_INVALID_CREDENTIALS', detail: 'unknown refresh token' });
    expect(await post('/auth/refresh', { refresh_token: 'a', refreshToken: 'b' })).toMatchObject({
      status: 400, body: { error: 'invalid_request', error_description: 'refresh_token and refreshToken differ' },
    });
    expect(reads).toEqual([lookupDigest('no-such-token')]);
  });

  it('a telematics refresh token is refused without being spent; its own endpoint reads each token once', async () => {
    const pair = await pairOf('telematics');
    reads.length = 0;
    expect(await post('/auth/refresh', { refresh_token: pair.refresh.value })).toMatchObject({ status: 401, body: { error: 'invalid_grant' } });
    expect(reads).toEqual([lookupDigest(pair.refresh.value)]);
    reads.length = 0;
    const reply = await post('/v1/Auth/RefreshToken', { AccessToken: pair.access.value, RefreshToken: pair.refresh.value });
    expect(reply).toMatchObject({ status: 200, body: { Status: 200, Result: { DeviceToken: '' } } });
    expect([...reads].sort()).toEqual([lookupDigest(pair.access.value), lookupDigest(pair.refresh.value)].sort());
  });
});
