/**
 * `POST /1/user/delete` across two replicas sharing one real redis-server: a user created on one replica and
 * deleted on the other is gone on both, and its tokens, already in both validation caches, are refused on both
 * (the store's revocation event evicts them); its username and key are free again.
 */
import { describe, expect, it } from 'vitest';
import { DEMO, type TestGate } from '../../helpers/trackgate.js';
import { useRedisReplicas } from '../../helpers/redis-replicas.js';
import { waitFor } from '../../helpers/wait.js';

const r = useRedisReplicas({ authn: { oauth: { enabled: true } } });

async function post(g: TestGate, path: string, body: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${g.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

async function status(g: TestGate, token: string): Promise<number> {
  const res = await fetch(`${g.url}/vehicles`, { headers: { authorization: `OAuth ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

describe('user/delete on one replica, one Redis', () => {
  it('removes the user and revokes its tokens on every replica', async () => {
    const { a, b } = r;
    const created = await post(a, '/1/user/create', { client_id: DEMO.clientId, username: 'hank', password: 'long enough password', key: 'hank-key' });
    expect(created.status).toBe(200);
    const token = created.body.access_token as string;
    const grant = await post(b, '/1/oauth/token', { grant_type: 'password', client_id: DEMO.clientId, username: 'hank', password: 'long enough password' });
    expect(grant.status).toBe(200);
    const second = grant.body.access_token as string;
    for (const g of [a, b]) for (const t of [token, second]) expect(await status(g, t)).toBe(200);

    const res = await post(b, '/1/user/delete', { client_id: DEMO.clientId, client_secret: DEMO.clientSecret, user_id: created.body.user_id });
    expect(res).toEqual({ status: 200, body: { result: 'ok', user_id: created.body.user_id } });
    for (const g of [a, b]) {
      for (const t of [token, second]) expect(await waitFor(async () => await status(g, t) === 401, 5000)).toBe(true);
    }
    expect(await a.app.store.getUser(created.body.user_id as string)).toBeUndefined();
    const again = await post(a, '/1/user/create', { client_id: DEMO.clientId, username: 'hank', password: 'long enough password', key: 'hank-key' });
    expect(again.status).toBe(200);
    expect(again.body.user_id).not.toBe(created.body.user_id);
  });
});
