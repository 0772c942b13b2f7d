/**
 * The `workers` key: default 1 (no cluster), a positive integer or `auto`, overridable by TRACKGATE_WORKERS
 * (env values are YAML scalars: `2` is a number, `auto` a string); `auto` follows the CPU count, capped.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { validateConfig } from '../../src/config-schema.js';
import { AUTO_WORKERS_MAX, MAX_WORKERS } from '../../src/config/schema.js';
import { workerCount } from '../../src/cluster/count.js';

describe('workers', () => {
  it('defaults to 1: one process, as before', () => {
    const { config } = validateConfig({}, undefined, {});
    expect(config.workers).toBe(1);
    expect(workerCount(config.workers, 8)).toBe(1);
  });

  it('takes a positive integer or auto, from the file or TRACKGATE_WORKERS', () => {
    expect(validateConfig({ workers: 3 }, undefined, {}).config.workers).toBe(3);
    expect(validateConfig({ workers: 'auto' }, undefined, {}).config.workers).toBe('auto');
    expect(validateConfig({ workers: 3 }, undefined, { TRACKGATE_WORKERS: '2' }).config.workers).toBe(2);
    expect(validateConfig({}, undefined, { TRACKGATE_WORKERS: 'auto' }).config.workers).toBe('auto');
  });

  it.each([[0], [-1], [1.5], ['two'], [MAX_WORKERS + 1]])('refuses %j, naming the key', (value) => {
    expect(() => validateConfig({ workers: value }, 'f.yaml', {})).toThrow(ConfigError);
    expect(() => validateConfig({ workers: value }, 'f.yaml', {})).toThrow(/workers/);
  });

  it('names TRACKGATE_WORKERS when the env value is bad', () => {
    expect(() => validateConfig({}, 'f.yaml', { TRACKGATE_WORKERS: '0' })).toThrow(/workers \(from TRACKGATE_WORKERS\)/);
  });

  it('auto: one per available CPU, at least 1, at most AUTO_WORKERS_MAX', () => {
    expect(workerCount('auto', 1)).toBe(1);
    expect(workerCount('auto', 2)).toBe(2);
    expect(workerCount('auto', 12)).toBe(12);
    expect(workerCount('auto', 128)).toBe(AUTO_WORKERS_MAX);
    expect(workerCount(5, 2)).toBe(5);
  });
});
