/**
 * The CLI's exit codes, one table for every command: 0 done, 1 it failed, 2 a usage error with one line of usage
 * on stderr; `--help` after any command prints its usage on stdout. Run in process (`run` from src/cli.ts), so
 * the whole table costs no child processes; the binary itself is exercised by cli.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli.js';

let out = '';
let err = '';
beforeEach(() => {
  out = '';
  err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => { out += String(c); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => { err += String(c); return true; });
  vi.stubEnv('TRACKGATE_CONFIG', undefined);
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

const USAGE_ERRORS: readonly (readonly string[])[] = [
  ['bogus'],
  ['--bogus'],
  ['start'],
  ['start', 'extra'],
  ['start', '--config', 'x.yaml', '--bogus'],
  ['demo', 'extra'],
  ['check-config'],
  ['check-config', 'a.yaml', 'b.yaml'],
  ['hash-password', 'extra'],
  ['hash-password', '--bogus'],
  ['keys'],
  ['keys', 'bogus'],
  ['keys', 'generate', '--alg', 'RS1'],
  ['keys', 'rotate', 'bogus'],
  ['config-docs', 'extra'],
  ['config-schema', '--bogus'],
  ['metrics-docs', 'extra'],
  ['version', 'extra'],
  ['accounts', 'bogus'],
  ['import', 'bogus'],
  ['tokens', 'bogus'],
];

describe('trackgate exit codes', () => {
  it.each(USAGE_ERRORS.map((argv) => [argv.join(' '), argv] as const))('`trackgate %s` → 2, a usage line on stderr, nothing on stdout', async (_, argv) => {
    expect(await run([...argv])).toBe(2);
    expect(err).toMatch(/usage/i);
    expect(out).toBe('');
  });

  it.each(['start', 'demo', 'check-config', 'hash-password', 'config-docs', 'config-schema', 'metrics-docs', 'version', 'help'])(
    '`trackgate %s --help` → 0, its usage on stdout', async (name) => {
      expect(await run([name, '--help'])).toBe(0);
      expect(out).toMatch(new RegExp(`trackgate (\\[start\\] )?${name === 'start' ? '' : name}`));
      expect(err).toBe('');
    },
  );

  it('a config that does not validate → 1 with the file named, not 2', async () => {
    expect(await run(['check-config', '/nonexistent/trackgate.yaml'])).toBe(1);
    expect(err).toContain('/nonexistent/trackgate.yaml');
    expect(out).toBe('');
  });

  it.each([['version'], ['--version']])('`trackgate %s` → 0, the package version and the Node.js running it', async (arg) => {
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default as { version: string };
    expect(await run([arg])).toBe(0);
    expect(out).toBe(`trackgate ${version} (Node.js ${process.version})\n`);
  });

  it('`trackgate help` lists every command of the table', async () => {
    expect(await run(['help'])).toBe(0);
    for (const name of ['[start]', 'demo', 'check-config', 'hash-password', 'keys generate', 'keys rotate', 'config-docs',
      'config-schema', 'metrics-docs', 'accounts', 'import', 'tokens', 'version']) {
      expect(out, name).toContain(`trackgate ${name}`);
    }
  });
});
