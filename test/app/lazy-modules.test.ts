/**
 * Resident memory of a SQLite deployment: the Redis client (the largest module trackgate can load) and the
 * demo service's WebSocket library are loaded only when used. Checked in a fresh process through the CommonJS
 * module cache, where both packages land when imported.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'tg-lazy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function loadedPackages(script: string): string[] {
  const file = join(dir, `probe-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, `import { createRequire } from 'node:module';\n${script}\n`
    + `const names = Object.keys(createRequire(import.meta.url).cache).map((p) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(p)?.[1]).filter(Boolean);\n`
    + `process.stdout.write('\\nPACKAGES ' + JSON.stringify([...new Set(names)]) + '\\n');\nprocess.exit(0);\n`);
  // (The App logs to stdout too: the list is the line after the marker.)
  const out = execFileSync(process.execPath, [file], { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return JSON.parse(/^PACKAGES (.*)$/m.exec(out)![1]!) as string[];
}

describe('modules a SQLite sidecar loads', () => {
  it('a running App on a SQLite store has not loaded ioredis or ws (but has loaded its own stack)', () => {
    const cfg = join(dir, 'tg.yaml');
    writeFileSync(cfg, [
      'listen: 127.0.0.1:0', 'admin: { listen: "127.0.0.1:0" }', 'upstream: { url: "http://127.0.0.1:9" }',
      `store: { url: "sqlite:${join(dir, 'store.sqlite')}" }`, `accountsFile: ${join(root, 'config/accounts.yaml')}`, 'watch: false', '',
    ].join('\n'));
    const names = loadedPackages(`
      import { App } from ${JSON.stringify(join(root, 'dist/app.js'))};
      import { loadConfig } from ${JSON.stringify(join(root, 'dist/config-schema.js'))};
      const app = await App.create(loadConfig(${JSON.stringify(cfg)}), { defaultMetrics: false });
      if (app.store.engine !== 'sqlite') throw new Error('not the SQLite store');
      await app.store.close();
    `);
    expect(names).toContain('undici');
    expect(names).not.toContain('ioredis');
    expect(names).not.toContain('ws');
  });

  it('the CLI entry point does not load the demo service', () => {
    const names = loadedPackages(`await import(${JSON.stringify(join(root, 'dist/cli.js'))});`);
    expect(names).not.toContain('ws');
    expect(names).not.toContain('ioredis');
  });
});
