/**
 * Reliability: a signing-key rotation under load, done with the `trackgate keys rotate` steps on the watched
 * keys file (as an operator would on a mounted Secret), with the demo GPS service verifying every identity
 * header through jose's `createRemoteJWKSet` at its defaults (10 min cache; an unknown kid refetched at most
 * every 30 s). identity.minPublishSeconds is 31 (just above jose's cooldown, to keep the run short; the
 * default 660 also covers verifiers that only refetch when their cache expires). Zero failed requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateJwks } from '../../src/identity/keys.js';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { runCli } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { recordRow } from './record.js';

const MIN_PUBLISH_SECONDS = 31;
const CLIENTS = 3;
const AUTH = basicAuth(DEMO.user, DEMO.password);

let demo: DemoUpstream;
let gate: TestGate;
beforeAll(async () => {
  const adminPort = await freePort();
  demo = await startDemoUpstream({ jwksUrl: `http://127.0.0.1:${adminPort}/.well-known/jwks.json`, issuer: 'trackgate-test', audience: 'upstream-test' });
  gate = await startTrackgate({
    upstreamUrl: demo.url,
    files: { 'keys.json': JSON.stringify(generateJwks()) },
    config: { watch: true, admin: { listen: `127.0.0.1:${adminPort}` }, identity: { keysFile: 'keys.json', minPublishSeconds: MIN_PUBLISH_SECONDS, ttlSeconds: 30 } },
  });
});
afterAll(async () => { await gate?.close(); await demo?.close(); });

/** Waits until `check` holds (the file watcher debounces 150 ms); fails naming `what` after 10 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  expect(await waitFor(check, 10_000, 50), what).toBe(true);
}

const kids = (): string[] => gate.app.minter.keys.keys.map((k) => k.kid);

describe('key rotation under load', () => {
  it('add, promote and retire through the CLI while clients keep going: no request fails at the jose upstream', async () => {
    const configArgs = ['--config', gate.configFile];
    const failures: string[] = [];
    let requests = 0;
    let stop = false;
    const client = async (): Promise<void> => {
      while (!stop) {
        const res = await fetch(`${gate.url}/rest/v2/whoami`, { headers: { authorization: AUTH } }).catch((e: Error) => e);
        requests++;
        if (res instanceof Error) failures.push(res.message);
        else {
          if (res.status !== 200) failures.push(`${res.status} ${await res.text()}`);
          else await res.arrayBuffer();
        }
      }
    };
    const clients = Array.from({ length: CLIENTS }, client);
    const first = gate.app.minter.signingKid;
    let refusedEarly = 0;
    let tried = 0;
    try {
      await until(() => requests > 20, 'load running');
      // 1. add: published, not signing.
      const add = await runCli(['keys', 'rotate', 'add', ...configArgs]);
      expect(add.code, add.stderr).toBe(0);
      const added = /added key (\S+)/.exec(add.stdout)![1]!;
      const promoteAt = Date.parse(/promote allowed from (\S+)/.exec(add.stdout)![1]!);
      await until(() => kids().includes(added), 'new key published');
      expect(gate.app.minter.signingKid).toBe(first);
      // 2. promote too early: refused.
      tried++;
      const early = await runCli(['keys', 'rotate', 'promote', ...configArgs]);
      if (early.code === 1 && /promote refused/.test(early.stderr)) refusedEarly++;
      // 3. promote when the CLI said it may. The wait is the scenario: jose's refetch cooldown runs on real
      // time, so the key must really have been published that long.
      await sleep(Math.max(0, promoteAt + 1 - Date.now()));
      const promote = await runCli(['keys', 'rotate', 'promote', ...configArgs]);
      expect(promote.code, promote.stderr).toBe(0);
      // trackgate switches once the key has been published long enough by its own clock (from its reload).
      await until(() => gate.app.minter.signingKid === added, 'new key signing');
      const requestsAtSwitch = requests;
      await until(() => requests > requestsAtSwitch + 50, 'load after the switch');
      // 4. retire too early: refused (headers the old key signed may be valid for identity.ttlSeconds + 60 s).
      tried++;
      const retireEarly = await runCli(['keys', 'rotate', 'retire', ...configArgs]);
      if (retireEarly.code === 1 && /retire refused/.test(retireEarly.stderr)) refusedEarly++;
      // Forced (the run cannot wait 90 s): trackgate itself keeps the removed key published for that long.
      const retire = await runCli(['keys', 'rotate', 'retire', '--force', ...configArgs]);
      expect(retire.code, retire.stderr).toBe(0);
      await until(() => !kids().includes(first), 'old key out of the file');
      const published = await (await fetch(`${gate.adminUrl}/.well-known/jwks.json`)).json() as { keys: { kid: string }[] };
      expect(published.keys.map((k) => k.kid)).toContain(first);
      const requestsAtRetire = requests;
      await until(() => requests > requestsAtRetire + 50, 'load after the retirement');
    } finally {
      stop = true;
      await Promise.all(clients);
    }
    recordRow({
      cls: 'faults: key rotation under load (jose upstream)', tried: requests, failures: failures.length,
      figure: `${requests} requests through add/promote/retire, minPublishSeconds ${MIN_PUBLISH_SECONDS}, ${failures.length} failed`,
    });
    recordRow({ cls: 'faults: key rotation steps refused until safe', tried, failures: tried - refusedEarly, figure: 'early promote and early retire refused by the CLI' });
    expect(failures.slice(0, 5)).toEqual([]);
    expect(refusedEarly).toBe(tried);
  });
});
