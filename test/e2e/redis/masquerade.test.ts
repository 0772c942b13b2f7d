/**
 * `POST /auth/masquerade` across two replicas sharing one real redis-server: a masquerade on one replica
 * revokes the presented session on the other too (its validation cache evicted by the store's event), and the
 * new session is bound to the account, with the user as `act`, on both.
 */
import { describe, expect, it } from 'vitest';
import { bearerIdentity } from '../../helpers/identity-assertion.js';
import { useRedisReplicas } from '../../helpers/redis-replicas.js';
import { DEMO, type TestGate } from '../../helpers/trackgate.js';
import { waitFor } from '../../helpers/wait.js';

const r = useRedisReplicas({ authn: { bearer: { enabled: true } } });

function post(g: TestGate, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${g.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

const identity = (g: TestGate, token: string) => bearerIdentity(g, r.up, token);

describe('masquerade on one replica, one Redis', () => {
  it('revokes the old session on every replica and binds the new one on both', async () => {
    const { a, b } = r;
    const login = await post(a, '/auth/login', { username: DEMO.user, password: DEMO.password });
    expect(login.status).toBe(200);
    const first = await login.json() as { token: string; refreshToken: string };
    // Cached on both replicas before the masquerade.
    expect(await identity(a, first.token)).toMatchObject({ account: 'demo-account' });
    expect(await identity(b, first.token)).toMatchObject({ account: 'demo-account' });

    const res = await post(b, '/auth/masquerade', { account_id: 'demo-account-2' }, { authentication: `Bearer ${first.token}` });
    expect(res.status).toBe(200);
    const next = await res.json() as { token: string };

    expect(await waitFor(async () => await identity(a, first.token) === 401, 5000)).toBe(true);
    expect(await identity(b, first.token)).toBe(401);
    expect((await post(a, '/auth/refresh', { refreshToken: first.refreshToken })).status).toBe(401);
    for (const g of [a, b]) {
      expect(await identity(g, next.token)).toMatchObject({ sub: DEMO.user, account: 'demo-account-2', act: { sub: DEMO.user } });
    }
  });
});
