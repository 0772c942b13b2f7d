/** Basic and Digest on the proxy path share the token endpoints' brute-force throttle (README promise). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';

let up: RecordingUpstream;
let gate: TestGate;
beforeAll(async () => {
  up = await startRecordingUpstream();
  // Negative entries are not cached here, so every wrong password is a real check.
  gate = await startTrackgate({ upstreamUrl: up.url, config: { cache: { negativeTtlSeconds: 0 }, throttle: { user: { limit: 3, windowSeconds: 60 } } } });
});
afterAll(async () => { await gate.close(); await up.close(); });

describe('password throttling on the proxy path', () => {
  it('Basic: after the limit of failures for a user, even the right password gets 429 with Retry-After', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${gate.url}/x`, { headers: { authorization: basicAuth(DEMO.user, `wrong-${i}`) } });
      expect(r.status).toBe(401);
    }
    const blocked = await fetch(`${gate.url}/x`, { headers: { authorization: basicAuth(DEMO.user, DEMO.password) } });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await blocked.json() as { error: string }).error).toBe('TG_ERR_THROTTLED');
  });
});
