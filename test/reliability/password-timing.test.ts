/**
 * User enumeration by timing (issue 13 item 3): through a real trackgate, a wrong Basic password for an
 * unknown user and for a user of each hash format (scrypt, bcrypt, apr1, {SHA}, argon2id) must take the same
 * time. Samples are interleaved (each round asks every kind once, in a shuffled order, on four lanes) so drift
 * in machine load falls on every kind alike; the figure is the ratio of the largest median to the smallest,
 * with each median's 95 % confidence interval (order statistics).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { everyHashFormat } from '../helpers/hash-formats.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { recordRow } from './record.js';

const ROUNDS = 200;
/** Stop early (and say so in the row) rather than overrun the suite's time box on a loaded machine. */
const TIME_BOX_MS = 45_000;
const LANES = 4;
const KINDS = ['unknown', 'scrypt', 'bcrypt', 'apr1', 'sha1', 'argon2id'] as const;
type Kind = (typeof KINDS)[number];

let up: RecordingUpstream;
let gate: TestGate;

beforeAll(async () => {
  up = await startRecordingUpstream();
  // Costs scaled down from the common ones (scrypt ln=14, bcrypt 10, argon2id m=19 MiB) so that 1,200
  // failures fit the time box; their order is kept: bcrypt dearer than scrypt, argon2id cheaper.
  const hashes = await everyHashFormat('right', { scryptLn: 12, bcrypt: 7, argon2MemoryKiB: 4096, argon2Time: 2 });
  const users = Object.entries(hashes).map(([format, password]) => ({ username: `u-${format}`, password }));
  gate = await startTrackgate({
    upstreamUrl: up.url,
    files: { 'accounts.yaml': stringify({ users }) },
    // Every wrong password is a real check: no negative cache, no throttle.
    // The reference KDF at the scrypt users' cost, as an operator would set it.
    config: { cache: { negativeTtlSeconds: 0 }, throttle: { user: { limit: 0 }, ip: { limit: 0 } }, passwords: { referenceScryptLn: 12 } },
  });
});
afterAll(async () => { await gate?.close(); await up?.close(); });

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** 95 % confidence interval of the median: the order statistics n/2 ± 1.96·√n/2. */
function medianCi(xs: readonly number[]): [number, number] {
  const s = [...xs].sort((a, b) => a - b);
  const half = 0.98 * Math.sqrt(s.length);
  return [s[Math.max(0, Math.floor(s.length / 2 - half))]!, s[Math.min(s.length - 1, Math.ceil(s.length / 2 + half))]!];
}

async function probe(kind: Kind, i: number): Promise<number> {
  const user = kind === 'unknown' ? `nobody-${i}` : `u-${kind}`;
  const t0 = performance.now();
  const res = await fetch(`${gate.url}/x`, { headers: { authorization: basicAuth(user, `wrong-${i}`) } });
  await res.arrayBuffer();
  const ms = performance.now() - t0;
  if (res.status !== 401) throw new Error(`${kind}: status ${res.status}`);
  return ms;
}

describe('password-check timing', () => {
  it(`a wrong password takes the same time for an unknown user and every hash format (up to ${ROUNDS} samples each, time-boxed)`, async () => {
    const samples = Object.fromEntries(KINDS.map((k) => [k, [] as number[]])) as Record<Kind, number[]>;
    // Warm-up: the first requests pay for connections and JIT, not for hashes.
    for (const k of KINDS) await probe(k, -1);
    let failures = 0;
    const stopAt = performance.now() + TIME_BOX_MS;
    await Promise.all(Array.from({ length: LANES }, async (_, lane) => {
      for (let r = lane; r < ROUNDS && performance.now() < stopAt; r += LANES) {
        const order = [...KINDS].sort(() => Math.random() - 0.5);
        for (const k of order) {
          try { samples[k].push(await probe(k, r)); } catch { failures++; }
        }
      }
    }));
    const medians = KINDS.map((k) => median(samples[k]));
    const ratio = Math.max(...medians) / Math.min(...medians);
    const detail = KINDS.map((k, i) => {
      const [lo, hi] = medianCi(samples[k]);
      return `${k} ${medians[i]!.toFixed(1)} [${lo.toFixed(1)}–${hi.toFixed(1)}]`;
    }).join(', ');
    const tried = KINDS.reduce((n, k) => n + samples[k].length, 0);
    recordRow({
      cls: 'timing: wrong password, unknown user vs each hash format',
      tried,
      failures: failures + (ratio > 1.1 ? 1 : 0),
      figure: `max/min of medians ${ratio.toFixed(3)} (ms, median [95 % CI]: ${detail}; failure floor now ${gate.app.passwords?.floorMs().toFixed(1)} ms)`,
    });
    expect(failures).toBe(0);
    expect(Math.min(...KINDS.map((k) => samples[k].length)), 'samples per kind within the time box').toBeGreaterThanOrEqual(50);
    expect(ratio, detail).toBeLessThanOrEqual(1.1);
  });
});
