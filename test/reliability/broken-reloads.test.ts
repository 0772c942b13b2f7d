/**
 * Reliability: broken config, accounts and keys files written again and again under load (each watched, as
 * a mounted ConfigMap or Secret is). Every broken write must be rejected and counted
 * (`trackgate_config_reloads_total{result="error"}`), the running configuration must stay (same route, same
 * users, same signing key), and no client request may fail; a good file written back applies again.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateJwks } from '../../src/identity/keys.js';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { waitFor } from '../helpers/wait.js';
import { recordRow } from './record.js';

const ROUNDS = 3;
const CLIENTS = 3;
const AUTH = basicAuth(DEMO.user, DEMO.password);

const gate = useGate({
  files: { 'keys.json': JSON.stringify(generateJwks()) },
  config: { watch: true, routes: [{ path: '/open', access: 'public' }], identity: { keysFile: 'keys.json' } },
});

/** Writes like a Secret/ConfigMap update or an editor: a sibling file renamed over the original. */
function replace(file: string, content: string): void {
  writeFileSync(`${file}.tmp`, content);
  renameSync(`${file}.tmp`, file);
}

async function reloads(result: 'success' | 'error'): Promise<number> {
  return (await gate.app.metrics.configReloads.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
}

/** Whether `check` held within 10 s (the file watcher debounces 150 ms). */
const until = (check: () => Promise<boolean>): Promise<boolean> => waitFor(check, 10_000);

describe('broken hot reloads under load', () => {
  it('every broken file is rejected and counted, the running config stays, no request fails', async () => {
    const configFile = gate.configFile;
    const accountsFile = join(gate.dir, 'accounts.yaml');
    const keysFile = join(gate.dir, 'keys.json');
    const good = { config: readFileSync(configFile, 'utf8'), accounts: readFileSync(accountsFile, 'utf8'), keys: readFileSync(keysFile, 'utf8') };
    const breakers: [string, string, string][] = [
      ['config: invalid YAML', configFile, `${good.config}routes: [unclosed\n`],
      ['config: a bad value', configFile, `${good.config}cache:\n  maxEntries: -1\n`],
      ['config: an unknown key', configFile, `${good.config}routez: []\n`],
      ['config: a keys file that does not exist', configFile, good.config.replace('keysFile: keys.json', 'keysFile: missing.json')],
      ['accounts: plain-text password', accountsFile, good.accounts.replace(/^(\s+)password: "\$scrypt.*$/m, '$1password: plain-text')],
      ['accounts: invalid YAML', accountsFile, `${good.accounts}\n: : [\n`],
      ['keys: truncated JSON', keysFile, good.keys.slice(0, 40)],
      ['keys: a public key only', keysFile, JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: 'AAAA', kid: 'x' }] })],
      ['keys: empty set', keysFile, '{"keys": []}'],
    ];
    const failures: string[] = [];
    let requests = 0;
    let stop = false;
    const client = async (i: number): Promise<void> => {
      while (!stop) {
        const [path, headers] = i % 2 === 0 ? ['/x', { authorization: AUTH }] : ['/open/y', {}];
        const res = await fetch(`${gate.url}${path}`, { headers }).catch((e: Error) => e);
        requests++;
        if (res instanceof Error) failures.push(`${path}: ${res.message}`);
        else if (res.status !== 200) failures.push(`${path}: ${res.status} ${await res.text()}`);
        else await res.arrayBuffer();
      }
    };
    const clients = Array.from({ length: CLIENTS }, (_, i) => client(i));
    const signing = gate.app.minter.signingKid;
    let written = 0;
    let rejected = 0;
    const kept: string[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        for (const [what, file, content] of breakers) {
          const errors = await reloads('error');
          const ok = await reloads('success');
          replace(file, content);
          written++;
          if (await until(async () => (await reloads('error')) > errors)) rejected++;
          // The running configuration stays: the route, the signing key; the success count did not move.
          if (gate.app.config.routes[0]?.path !== '/open' || gate.app.minter.signingKid !== signing || (await reloads('success')) !== ok) kept.push(what);
          // A good file written back applies again.
          replace(file, file === configFile ? good.config : file === accountsFile ? good.accounts : good.keys);
          if (!(await until(async () => (await reloads('success')) > ok))) kept.push(`${what} (no recovery)`);
        }
      }
    } finally {
      stop = true;
      await Promise.all(clients);
    }
    const line = gate.logRecords().find((r) => r.msg === 'configuration change rejected; keeping the running configuration');
    recordRow({
      cls: 'faults: broken hot reloads under load', tried: written, failures: (written - rejected) + kept.length + failures.length,
      figure: `${rejected}/${written} broken writes rejected and counted, ${requests} requests, ${failures.length} failed`,
    });
    expect(line).toBeDefined();
    expect(failures.slice(0, 5)).toEqual([]);
    expect(kept).toEqual([]);
    expect(rejected).toBe(written);
    expect(requests).toBeGreaterThan(written);
  });
});
