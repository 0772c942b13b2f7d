/** The bound on concurrent hash evaluations: FIFO, never more than the limit at once, the limit read live. */
import { describe, expect, it } from 'vitest';
import { HashSlots } from '../../src/accounts/hash-slots.js';

/** A job that runs until the test lets it finish. */
function gate(): { job: () => Promise<void>; finish: () => void; started: boolean } {
  let finish!: () => void;
  const g = { started: false, finish: () => finish(), job: () => { g.started = true; return new Promise<void>((r) => { finish = r; }); } };
  return g;
}
const tick = () => new Promise((r) => setImmediate(r));

describe('HashSlots', () => {
  it('runs at most `limit` jobs at once, the others in arrival order as slots free up', async () => {
    let limit = 2;
    const slots = new HashSlots(() => limit);
    const jobs = [gate(), gate(), gate(), gate()];
    const runs = jobs.map((j) => slots.run(j.job));
    await tick();
    expect(jobs.map((j) => j.started)).toEqual([true, true, false, false]);
    expect([slots.busy, slots.waiting]).toEqual([2, 2]);
    jobs[1]!.finish();
    await tick();
    expect(jobs.map((j) => j.started)).toEqual([true, true, true, false]);
    // A lowered limit applies as slots free up: the fourth waits until only one job runs.
    limit = 1;
    jobs[0]!.finish();
    await tick();
    expect(jobs[3]!.started).toBe(false);
    jobs[2]!.finish();
    await tick();
    expect(jobs[3]!.started).toBe(true);
    jobs[3]!.finish();
    await Promise.all(runs);
    expect([slots.busy, slots.waiting]).toEqual([0, 0]);
  });

  it('a job that throws frees its slot', async () => {
    const slots = new HashSlots(() => 1);
    await expect(slots.run(async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    expect(await slots.run(async () => 7)).toBe(7);
    expect(slots.busy).toBe(0);
  });
});
