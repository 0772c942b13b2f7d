/**
 * The TinyLFU frequency sketch of the validation cache: estimates never undercount, saturate at 15, fade by
 * half every 10 × capacity increments, and stay near the truth for keys the noise of many others surrounds.
 */
import { describe, expect, it } from 'vitest';
import { FrequencySketch } from '../../src/verify/frequency-sketch.js';

/** Spread 32-bit hashes, as the table's FNV-1a of a digest key gives. */
const hashOf = (i: number): number => Math.imul(i + 1, 0x9e3779b1) >>> 0;

describe('FrequencySketch', () => {
  it('counts uses, never fewer than the truth, and saturates at 15', () => {
    const s = new FrequencySketch(1000);
    for (let i = 0; i < 100; i++) for (let n = 0; n < i % 7; n++) s.increment(hashOf(i));
    for (let i = 0; i < 100; i++) expect(s.estimate(hashOf(i))).toBeGreaterThanOrEqual(i % 7);
    expect(s.estimate(hashOf(5000))).toBe(0);
    for (let n = 0; n < 40; n++) s.increment(hashOf(9999));
    expect(s.estimate(hashOf(9999))).toBe(15);
  });

  it('halves every count after 10 × capacity increments', () => {
    const s = new FrequencySketch(100);
    for (let n = 0; n < 12; n++) s.increment(hashOf(1));
    expect(s.estimate(hashOf(1))).toBe(12);
    // 1000 increments in all trigger the halving: 12 + the others' collisions, halved.
    for (let i = 0; i < 1000 - 12; i++) s.increment(hashOf(1000 + i));
    expect(s.estimate(hashOf(1))).toBeGreaterThanOrEqual(6);
    expect(s.estimate(hashOf(1))).toBeLessThanOrEqual(7);
  });

  it('keeps a regular key above a stream of one-off keys 10× its capacity', () => {
    const s = new FrequencySketch(1000);
    let overcount = 0;
    for (let i = 0; i < 9_999; i++) {
      s.increment(hashOf(100_000 + i));
      if (i % 1000 === 0) for (let n = 0; n < 5; n++) s.increment(hashOf(1));
    }
    for (let i = 0; i < 1000; i++) overcount = Math.max(overcount, s.estimate(hashOf(200_000 + i)));
    // Keys never seen estimate low; the regular one saturated (15) and was halved once at 10,000 increments.
    expect(overcount).toBeLessThanOrEqual(3);
    expect(s.estimate(hashOf(1))).toBe(7);
  });
});
