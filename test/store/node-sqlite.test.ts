/**
 * Loading `node:sqlite` prints no ExperimentalWarning (Node 22 prints one when the module loads; Node 24 none),
 * while every other warning, the same text emitted later included, still prints. Checked in a fresh process
 * through the built store (dist/, built by test/global-setup.ts).
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

describe('loading node:sqlite', () => {
  it('opening the SQLite store prints no warning; a later experimental warning still prints', () => {
    const probe = spawnSync(process.execPath, ['--input-type=module', '-e', `
      const { SqliteStore } = await import(${JSON.stringify(join(root, 'dist/store/sqlite.js'))});
      await new SqliteStore(':memory:').close();
      await new Promise((r) => setTimeout(r, 0));
      process.stderr.write('OPENED\\n');
      process.emitWarning('SQLite is an experimental feature (emitted after loading)', 'ExperimentalWarning');
    `], { cwd: root, encoding: 'utf8', timeout: 20_000 });
    expect(probe.status, probe.stderr).toBe(0);
    const [beforeOpened, afterOpened] = probe.stderr.split('OPENED\n');
    expect(beforeOpened).toBe('');
    expect(afterOpened).toMatch(/ExperimentalWarning: SQLite is an experimental feature \(emitted after loading\)/);
  });
});
