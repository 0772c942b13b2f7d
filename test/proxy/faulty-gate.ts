/**
 * An in-process trackgate in front of a faulty upstream (test/reliability/faults-lib), for one test file:
 * both started before its tests and closed after them. The upstream answers within 300 ms or times out,
 * and a response body stalls out after 500 ms.
 */
import { afterAll, beforeAll } from 'vitest';
import { startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { startFaultyUpstream, type FaultyUpstream } from '../reliability/faults-lib/faulty-upstream.js';

export interface FaultyGate {
  readonly up: FaultyUpstream;
  readonly gate: TestGate;
}

export function useFaultyGate(): FaultyGate {
  const pair = {} as { up: FaultyUpstream; gate: TestGate };
  beforeAll(async () => {
    pair.up = await startFaultyUpstream();
    pair.gate = await startTrackgate({ upstreamUrl: pair.up.url, config: { upstream: { headersTimeoutMs: 300, bodyTimeoutMs: 500 } } });
  });
  afterAll(async () => {
    await pair.gate?.close();
    await pair.up?.close();
  });
  return pair;
}
