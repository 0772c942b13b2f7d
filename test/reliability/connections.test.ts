/**
 * Connection flood: 10,000 concurrent keep-alive connections (or the most this machine's open-file limit allows,
 * stated in the row) to a real trackgate process, from 100 loopback source addresses. Every connection carries
 * two requests with a cached credential while all of them stay open: every request answered 200, no connection
 * closed by trackgate. After the clients close, the process's open file descriptors return to their baseline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { waitFor } from '../helpers/wait.js';
import { forEachBounded } from './faults-lib/bounded.js';
import { raiseFdLimit } from './faults-lib/fd-limit.js';
import { gateFolder, type GateFolder, type GateProc } from './faults-lib/gate-process.js';
import { KeepAliveConn } from './faults-lib/keepalive-conn.js';
import { recordRow } from './record.js';

const TARGET = 10_000;
/** Source addresses 127.0.0.2 … : no client holds more than a hundredth of the connections. */
const SOURCES = 100;
/** Connects in flight at once (the listen backlog is 511: a burst beyond it waits for SYN retries). */
const CONNECT_WINDOW = 256;
/** Requests in flight at once (over all connections). */
const REQUEST_WINDOW = 200;
/** Descriptors kept free in each process besides the flood's sockets (vitest, the upstream, SQLite, stdio). */
const SPARE_FDS = 600;

const AUTH = basicAuth(DEMO.user, DEMO.password);
const GET = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: gate\r\nAuthorization: ${AUTH}\r\n\r\n`;

let up: RecordingUpstream;
let folder: GateFolder;
let gate: GateProc;
let target: number;

beforeAll(async () => {
  // Both ends live on this machine: the test holds the client sockets, trackgate (which inherits the limit) the
  // server ones.
  const limit = raiseFdLimit(TARGET * 2 + 4 * SPARE_FDS);
  target = Math.min(TARGET, limit - SPARE_FDS);
  up = await startRecordingUpstream();
  up.respond = (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }); res.end('ok'); };
  folder = await gateFolder({ upstream: { url: up.url, keepAliveTimeoutMs: 500 } });
  gate = await folder.start();
});
afterAll(async () => {
  folder?.close();
  await up?.close();
});

describe('connections', () => {
  it(`holds ${TARGET} concurrent keep-alive connections (or the machine's most), answers every request, leaks no fd`, async () => {
    const port = Number(new URL(gate.proxy).port);
    // Baseline: after one request (lazily opened handles are in place) and once its sockets are gone again.
    const fresh = gate.fds();
    const warm = await KeepAliveConn.open(port);
    expect((await warm.request(GET('/warm'))).status).toBe(200);
    warm.close();
    await waitFor(() => gate.fds() <= fresh, 5000);
    const baseline = gate.fds();

    const conns: KeepAliveConn[] = [];
    let connectFailures = 0;
    const t0 = Date.now();
    await forEachBounded(Array.from({ length: target }, (_, i) => i), CONNECT_WINDOW, async (i) => {
      try {
        conns.push(await KeepAliveConn.open(port, `127.0.0.${2 + (i % SOURCES)}`));
      } catch {
        connectFailures++;
      }
    });
    const statuses = new Map<string, number>();
    const tally = (k: string): void => { statuses.set(k, (statuses.get(k) ?? 0) + 1); };
    let peakFds = 0;
    for (const round of [1, 2]) {
      await forEachBounded(conns, REQUEST_WINDOW, async (c, i) => {
        try {
          const a = await c.request(GET(`/r${round}/${i}`));
          tally(a.close ? `${a.status}+close` : String(a.status));
        } catch {
          tally('error');
        }
      });
      peakFds = Math.max(peakFds, gate.fds());
    }
    const stillOpen = conns.filter((c) => !c.closed).length;
    const seconds = (Date.now() - t0) / 1000;
    for (const c of conns) c.close();
    const settled = await waitFor(() => gate.fds() <= baseline, 20_000, 100);
    const after = gate.fds();

    const answered = statuses.get('200') ?? 0;
    const failures = connectFailures + (2 * target - answered) + (target - stillOpen) + (settled ? 0 : 1);
    recordRow({
      cls: 'connections: concurrent keep-alive',
      tried: 2 * target,
      failures,
      figure: `${conns.length} connections held at once (target ${TARGET}), ${2 * conns.length} requests in ${seconds.toFixed(1)} s; trackgate fds ${baseline} → ${peakFds} → ${after}`,
    });
    expect(connectFailures).toBe(0);
    expect(Object.fromEntries(statuses)).toEqual({ 200: 2 * target });
    expect(stillOpen).toBe(target);
    // Every connection was open on trackgate's side at once.
    expect(peakFds - baseline).toBeGreaterThanOrEqual(target);
    expect(after, 'trackgate fds back to baseline after the clients closed').toBeLessThanOrEqual(baseline);
    expect(gate.alive()).toBe(true);
  });
});
