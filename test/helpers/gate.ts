/**
 * The usual test setup in one call: a recording upstream and a real trackgate in front of it.
 * `startGate` starts a pair that the test closes; `useGate` shares one pair in a file or `describe` block
 * (started in `beforeAll`, closed in `afterAll`).
 */
import { afterAll, beforeAll } from 'vitest';
import { startRecordingUpstream, type RecordingUpstream } from './recording-upstream.js';
import { startTrackgate, type StartTrackgateOptions, type TestGate } from './trackgate.js';

export interface Gate extends TestGate {
  /** The recording upstream this gate forwards to. */
  up: RecordingUpstream;
  /** Closes trackgate, then the upstream unless it was passed in (a shared one). */
  close(): Promise<void>;
  /**
   * Closes trackgate and starts a new one with the same options and upstream, in place (every reference to
   * this gate sees the new one). State survives only where the options put it outside the gate's own folder
   * (a `store.url` of the test's).
   */
  restart(): Promise<void>;
}

export interface GateOptions extends Omit<StartTrackgateOptions, 'upstreamUrl'> {
  /** An upstream to forward to, shared with other gates and not closed by this one; by default a new one. */
  up?: RecordingUpstream;
  /** Appended to the upstream's URL in `upstream.url` (a base path such as `/base/`). */
  upstreamPath?: string;
}

export async function startGate(opts: GateOptions = {}): Promise<Gate> {
  const { up: shared, upstreamPath, ...rest } = opts;
  const up = shared ?? await startRecordingUpstream();
  const start = (): Promise<TestGate> => startTrackgate({ ...rest, upstreamUrl: `${up.url}${upstreamPath ?? ''}` });
  let gate: TestGate;
  try {
    gate = await start();
  } catch (err) {
    if (shared === undefined) await up.close();
    throw err;
  }
  const handle: Gate = {
    ...gate,
    up,
    close: async () => {
      await gate.close();
      if (shared === undefined) await up.close();
    },
    restart: async () => {
      await gate.close();
      gate = await start();
      Object.assign(handle, gate, { up, close: handle.close, restart: handle.restart });
    },
  };
  return handle;
}

/**
 * A gate for the tests of the enclosing file or `describe` block. Options given as a function are read when
 * the block starts, so they may use what an earlier `beforeAll` set up (an identity provider's URL) or await
 * what the gate's files need.
 * Reading the gate outside a test throws: it exists only between the block's `beforeAll` and `afterAll`.
 */
export function useGate(opts: GateOptions | (() => GateOptions | Promise<GateOptions>) = {}): Gate {
  let started: Gate | undefined;
  beforeAll(async () => { started = await startGate(typeof opts === 'function' ? await opts() : opts); });
  afterAll(async () => {
    await started?.close();
    started = undefined;
  });
  const current = (key: PropertyKey): Gate => {
    if (started === undefined) throw new Error(`useGate: gate.${String(key)} read outside the block's tests`);
    return started;
  };
  return new Proxy({} as Gate, {
    get: (_target, key) => Reflect.get(current(key), key),
    has: (_target, key) => Reflect.has(current(key), key),
  });
}
