/**
 * SIGKILL during issuance: a real trackgate process with the SQLite store serves a load of token requests (GPS
 * REST v2 session tokens, OAuth 2.0 password logins and refresh rotations), is killed with SIGKILL in the middle
 * of it, and is started again on the same folder (same SQLite file, keys and secret). Every token a client
 * received a 2xx answer for works after the restart: each session token and each access token is accepted on
 * the proxy path, and the newest refresh token each client holds can still be exchanged. Afterwards the
 * restarted process's open file descriptors return to their baseline.
 */
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { DEMO } from '../helpers/trackgate.js';
import { waitFor } from '../helpers/wait.js';
import { forEachBounded } from './faults-lib/bounded.js';
import { gateFolder, type GateFolder, type GateProc } from './faults-lib/gate-process.js';
import { outcomeOf, startLoad, tally } from './faults-lib/load.js';
import { recordRow } from './record.js';

const SESSION_LANES = 4;
const PAIR_LANES = 3;
/** The kill comes once this much has been acknowledged (or after KILL_BY_MS at the latest). */
const KILL_AFTER = { sessions: 60, pairs: 8 };
const KILL_BY_MS = 15_000;
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

interface Pair { access_token: string; refresh_token: string }

let up: RecordingUpstream;
let folder: GateFolder;
let clients: Agent;

beforeAll(async () => {
  up = await startRecordingUpstream();
  up.respond = (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }); res.end('ok'); };
  folder = await gateFolder({
    upstream: { url: up.url, keepAliveTimeoutMs: 500 },
    authn: { session_token: { enabled: true }, bearer: { enabled: true } },
    // A refresh whose answer the kill swallowed may be retried after the restart and get the same pair back.
    issue: { refreshGraceSeconds: 120 },
  });
  clients = new Agent();
});
// The processes first (a rejected close below must not leave trackgate running).
afterAll(async () => {
  folder?.close();
  await clients?.close().catch(() => undefined);
  await up?.close();
});

const post = (gate: GateProc, path: string, form: Record<string, string>) => fetch(`${gate.proxy}${path}`, {
  method: 'POST', redirect: 'manual', headers: FORM, body: new URLSearchParams(form).toString(), dispatcher: clients,
  signal: AbortSignal.timeout(20_000),
});

describe('SIGKILL during issuance', () => {
  it('every token acknowledged with a 2xx before the kill works after the restart', async () => {
    const gate = await folder.start();
    const sessions: string[] = [];
    const access: string[] = [];
    /** Per pair lane: the newest refresh token it was given. */
    const newest: (string | undefined)[] = Array.from({ length: PAIR_LANES }, () => undefined);

    const sessionLoad = startLoad(SESSION_LANES, async () => {
      const res = await post(gate, '/rest/v2/token', { key: DEMO.webServiceKey });
      if (res.status !== 303) return outcomeOf(res);
      await res.body?.cancel();
      sessions.push(new URLSearchParams(res.headers.get('location')!.split('?')[1]).get('_token')!);
      return '303';
    });
    // Each pair lane logs in, then keeps rotating its refresh token, logging in again every fourth time.
    const pairLoad = startLoad(PAIR_LANES, async (lane, n) => {
      const current = newest[lane];
      const res = current === undefined || n % 4 === 0
        ? await post(gate, '/auth/password', { username: DEMO.user, password: DEMO.password })
        : await post(gate, '/auth/refresh', { refresh_token: current });
      if (res.status !== 200) return outcomeOf(res);
      const pair = await res.json() as Pair;
      access.push(pair.access_token);
      newest[lane] = pair.refresh_token;
      return '200';
    });
    await waitFor(() => sessions.length >= KILL_AFTER.sessions && access.length >= KILL_AFTER.pairs, KILL_BY_MS, 10);
    process.kill(gate.pid, 'SIGKILL');
    const killed = await gate.exited;
    const samples = [...await sessionLoad.stop(), ...await pairLoad.stop()];
    expect(killed.signal).toBe('SIGKILL');
    const cut = samples.filter((s) => s.outcome.startsWith('error')).length;
    const refused = samples.filter((s) => !s.outcome.startsWith('error') && s.outcome !== '200' && s.outcome !== '303');

    const restarted = await folder.start();
    const fresh = restarted.fds();
    const failed: string[] = [];
    const use = async (what: string, headers: Record<string, string>, query = ''): Promise<void> => {
      const res = await fetch(`${restarted.proxy}/data${query}`, { headers, dispatcher: clients, signal: AbortSignal.timeout(20_000) });
      const outcome = await outcomeOf(res);
      if (outcome !== '200') failed.push(`${what}: ${outcome}`);
    };
    await forEachBounded(sessions, 8, (t) => use('session token', {}, `?_token=${encodeURIComponent(t)}`));
    await forEachBounded(access, 8, (t) => use('access token', { authorization: `Bearer ${t}` }));
    const held = newest.filter((t): t is string => t !== undefined);
    for (const t of held) {
      const res = await post(restarted, '/auth/refresh', { refresh_token: t });
      const outcome = await outcomeOf(res);
      if (outcome !== '200') failed.push(`newest refresh token: ${outcome}`);
    }
    await clients.close();
    clients = new Agent();
    const settled = await waitFor(() => restarted.fds() <= fresh, 10_000, 100);
    const after = restarted.fds();

    const acknowledged = sessions.length + access.length + held.length;
    recordRow({
      cls: 'faults: SIGKILL during issuance',
      tried: acknowledged,
      failures: failed.length + refused.length + (settled ? 0 : 1),
      figure: `${sessions.length} session + ${access.length} access tokens + ${held.length} refresh tokens acknowledged, ${cut} requests cut by the kill; ${failed.length} failed after restart; fds ${fresh} → ${after}`,
    });
    expect(refused, 'nothing but 2xx before the kill').toEqual([]);
    expect(acknowledged).toBeGreaterThanOrEqual(KILL_AFTER.sessions + KILL_AFTER.pairs);
    expect(failed).toEqual([]);
    expect(tally(samples.filter((s) => !s.outcome.startsWith('error')))).toEqual(expect.objectContaining({ 303: sessions.length }));
    expect(after, `restarted trackgate fds back to baseline (open now: ${JSON.stringify(restarted.fdKinds())})`).toBeLessThanOrEqual(fresh);
    expect(restarted.alive()).toBe(true);
  });
});
