/**
 * `POST /1/user/delete` (seed: geoloqi-authentication.txt, "API Key and Secret are used when applications need
 * to create or delete users") through a real trackgate (SQLite store), the demo upstream's WebSocket feed and
 * a second application: the user and every token of theirs gone (cached verdicts included), their open
 * WebSockets closed with 4401, the username and key free again; a wrong or missing secret → the seed's error
 * shape; another application's user, an accounts-file user or an unknown id → 404. Across Redis replicas:
 * test/e2e/redis/user-delete.test.ts.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parse, stringify } from 'yaml';
import { hashPassword } from '../../src/accounts/password.js';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { metric } from '../helpers/metrics.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { DEMO, DEMO_ACCOUNTS, startTrackgate, type TestGate } from '../helpers/trackgate.js';

const OTHER = { clientId: 'other-app', clientSecret: 'other-app-secret' };
/** An application whose secret checks fast ({SHA}): its delete lands while a password grant is still hashing. */
const FAST = { client_id: 'fast-app', client_secret: 'fast-app-secret' };
const DEMO_APP = { client_id: DEMO.clientId, client_secret: DEMO.clientSecret };

let gate: TestGate;
let demo: DemoUpstream;

beforeAll(async () => {
  const accounts = parse(readFileSync(DEMO_ACCOUNTS, 'utf8')) as { applications: Record<string, unknown>[] };
  accounts.applications.push({ clientId: OTHER.clientId, clientSecret: await hashPassword(OTHER.clientSecret) });
  accounts.applications.push({ clientId: FAST.client_id, clientSecret: `{SHA}${createHash('sha1').update(FAST.client_secret).digest('base64')}` });
  const port = await freePort();
  gate = await startTrackgate({
    upstreamUrl: `http://127.0.0.1:${port}`,
    files: { 'two-apps.yaml': stringify(accounts) },
    config: { accountsFile: 'two-apps.yaml', authn: { oauth: { enabled: true } } },
  });
  demo = await startDemoUpstream({ port, jwksUrl: `${gate.adminUrl}/.well-known/jwks.json`, issuer: 'trackgate-test', audience: 'upstream-test', livePeriodMs: 50 });
});
afterAll(async () => { await gate?.close(); await demo?.close(); });

interface Created { user_id: string; username: string; access_token: string }

async function post(path: string, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gate.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

async function create(fields: Record<string, unknown>, path = '/1/user/create'): Promise<Created> {
  const res = await post(path, fields);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body as unknown as Created;
}

const status = async (token: string): Promise<number> => {
  const res = await fetch(`${gate.url}/rest/v2/devices`, { headers: { authorization: `OAuth ${token}` } });
  await res.arrayBuffer();
  return res.status;
};

function openLive(token: string): Promise<{ closed: Promise<{ code: number; reason: string }> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${gate.url.replace(/^http/, 'ws')}/rest/v2/live`, { headers: { authorization: `OAuth ${token}` } });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.once('open', () => resolve({ closed }));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake failed: ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

describe('POST /1/user/delete', () => {
  it('deletes the user and every token of theirs, cached or not, and closes their WebSockets with 4401', async () => {
    const user = await create({ client_id: DEMO.clientId, username: 'erin', password: 'long enough password', key: 'erin-key', extra: { a: 1 } });
    const grant = await post('/1/oauth/token', { grant_type: 'password', client_id: DEMO.clientId, username: 'erin', password: 'long enough password' });
    const second = grant.body.access_token as string;
    expect(await status(user.access_token)).toBe(200); // in the validation cache from here on
    expect(await status(second)).toBe(200);
    const live = await openLive(second);
    const bystander = await create({ client_id: DEMO.clientId }, '/1/user/create_anon');

    const res = await post('/1/user/delete', { ...DEMO_APP, user_id: user.user_id });
    expect(res).toEqual({ status: 200, body: { result: 'ok', user_id: user.user_id } });
    expect(await live.closed).toEqual({ code: 4401, reason: 'token revoked' });
    expect(await status(user.access_token)).toBe(401);
    expect(await status(second)).toBe(401);
    expect(await status(bystander.access_token)).toBe(200);
    expect(await gate.app.store.getUser(user.user_id)).toBeUndefined();
    // Its password no longer logs in; its username and key are free.
    const login = await post('/1/oauth/token', { grant_type: 'password', client_id: DEMO.clientId, username: 'erin', password: 'long enough password' });
    expect(login.status).toBe(400);
    expect(login.body.error).toBe('invalid_grant');
    const reborn = await create({ client_id: DEMO.clientId, username: 'erin', password: 'another long password', key: 'erin-key' });
    expect(reborn.user_id).not.toBe(user.user_id);
    // Deleting it again: 404.
    expect(await post('/1/user/delete', { ...DEMO_APP, user_id: user.user_id })).toEqual({
      status: 404, body: { error_code: 404, error: 'not_found', error_description: 'No such user.' },
    });
    expect(gate.logs.join('\n')).not.toContain(DEMO.clientSecret);
  });

  it('needs the client secret: missing → 401 invalid_client, wrong → 401 invalid_client; the user stays', async () => {
    const user = await create({ client_id: DEMO.clientId }, '/1/user/create_anon');
    for (const auth of [{ client_id: DEMO.clientId }, { client_id: DEMO.clientId, client_secret: 'not-the-secret' }]) {
      const res = await post('/1/user/delete', { ...auth, user_id: user.user_id });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error_code: 401, error: 'invalid_client', error_description: 'Invalid client credentials.' });
    }
    expect(await status(user.access_token)).toBe(200);
    const missing = await post('/1/user/delete', DEMO_APP);
    expect(missing.status).toBe(400);
    expect(missing.body.error).toBe('invalid_request');
  });

  it('an application deletes only its own users: another application\'s, an accounts-file user and an unknown id → the same 404', async () => {
    const mine = await create({ client_id: DEMO.clientId, username: 'frank', password: 'long enough password' });
    const notFound = { status: 404, body: { error_code: 404, error: 'not_found', error_description: 'No such user.' } };
    for (const id of [mine.user_id, DEMO.user, 'NoSuchUser']) {
      expect(await post('/1/user/delete', { client_id: OTHER.clientId, client_secret: OTHER.clientSecret, user_id: id })).toEqual(notFound);
    }
    expect(await status(mine.access_token)).toBe(200);
    expect(await gate.app.store.getUser(mine.user_id)).toBeDefined();
    // HTTP Basic client authentication works here too.
    const res = await fetch(`${gate.url}/1/user/delete`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${DEMO.clientId}:${DEMO.clientSecret}`).toString('base64')}` },
      body: new URLSearchParams({ user_id: mine.user_id }).toString(),
    });
    expect(res.status).toBe(200);
    expect(await status(mine.access_token)).toBe(401);
  });

  it('password grants racing a delete: no token of the deleted user is left working', async () => {
    await create({ client_id: FAST.client_id, username: 'gina', password: 'long enough password' });
    const user = await gate.app.store.getUserByUsername('gina');
    const lookups = () => metric(gate.adminUrl, 'trackgate_store_duration_seconds_count', { op: 'get_user_by_username' });
    const before = await lookups();
    const grants = Array.from({ length: 4 }, () => post('/1/oauth/token', { grant_type: 'password', client_id: FAST.client_id, username: 'gina', password: 'long enough password' }));
    // Every grant has read the user and is hashing its password: delete now, before they issue their tokens.
    expect(await waitFor(async () => await lookups() >= before + 4, 5000, 1)).toBe(true);
    const deleted = await post('/1/user/delete', { ...FAST, user_id: user!.id });
    expect(deleted.status).toBe(200);
    for (const g of await Promise.all(grants)) {
      expect([200, 404]).toContain(g.status);
      if (g.status === 200) expect(await status(g.body.access_token as string)).toBe(401);
    }
    expect((await gate.app.store.listTokens({ subject: user!.id, limit: 100 })).filter((t) => t.revokedAt === undefined)).toEqual([]);
  });
});
