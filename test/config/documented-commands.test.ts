/**
 * The commands of docs/configuration.md's "Accounts" block, run verbatim (through bash, with `node bin/trackgate.js`
 * pointing at this checkout) in a copy of config/, so the files they name (config/examples/) exist and each works.
 * The real binary (dist/): `npm run build` first.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.js';
import { BIN, CLEAN_ENV, ROOT } from '../helpers/cli.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'trackgate-doc-commands-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The lines of the first `sh` block after `heading`, comments and blank lines dropped. */
function commandsUnder(file: string, heading: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const section = text.slice(text.indexOf(`\n${heading}\n`));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

describe('docs/configuration.md: the Accounts commands', () => {
  const commands = commandsUnder('docs/configuration.md', '## Accounts');

  it('name files that exist and all succeed, in order', async () => {
    cpSync(join(ROOT, 'config'), join(dir, 'config'), { recursive: true });
    expect(commands.some((c) => c.includes('config/examples/htpasswd'))).toBe(true);
    expect(commands.some((c) => c.includes('config/examples/htdigest'))).toBe(true);
    const outputs: string[] = [];
    for (const command of commands) {
      // The tokens commands read the store `npm start` leaves behind: create it as the server would.
      if (/ tokens /.test(command) && outputs.every((o) => !o.startsWith('store'))) {
        mkdirSync(join(dir, 'data'), { recursive: true });
        await new SqliteStore(join(dir, 'data/trackgate.sqlite')).close();
        outputs.push('store');
      }
      const line = command.replaceAll('node bin/trackgate.js', `node ${BIN}`);
      const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', line], { cwd: dir, env: CLEAN_ENV });
      outputs.push(stdout);
    }
    const dryRun = outputs.find((o) => o.includes('dry run'))!;
    expect(dryRun).toMatch(/added\s+fleet\.viewer \(bcrypt\)/);
    expect(dryRun).toMatch(/added\s+fleet\.ops \(apr1\)/);
    expect(dryRun).toMatch(/added\s+legacy\.tracker \(sha1\)/);
    const accounts = parse(readFileSync(join(dir, 'my-accounts.yaml'), 'utf8')) as { users: { username: string; digest?: { realm: string } }[] };
    expect(accounts.users.find((u) => u.username === 'dispatcher')?.digest?.realm).toBe('GPS Data Web Service');
    expect(accounts.users.map((u) => u.username)).toContain('alice');
    // The dry run wrote nothing.
    expect(accounts.users.map((u) => u.username)).not.toContain('fleet.viewer');
  });
});
