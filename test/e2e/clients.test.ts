/**
 * Real clients nobody here wrote — curl, wget, Python requests, Apache Bench (an HTTP/1.0 client, as old
 * trackers are) — authenticate through trackgate to the bundled demo GPS service, which verifies the identity
 * header against trackgate's JWKS. Debian packages installed by .ci/run: curl wget python3-requests apache2-utils.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { freePort } from '../helpers/ports.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3'; // Debian's, which has python3-requests

let upstream: DemoUpstream;
let gate: TestGate;
let url: string;

beforeAll(async () => {
  // The demo upstream verifies trackgate's headers against the admin port's JWKS: reserve that port first.
  const adminPort = await freePort();
  let upstreamPort = await freePort();
  while (upstreamPort === adminPort) upstreamPort = await freePort();
  // trackgate binds its admin port at once (nothing else may take it), then the upstream binds its own.
  gate = await startTrackgate({
    upstreamUrl: `http://127.0.0.1:${upstreamPort}`,
    config: {
      admin: { listen: `127.0.0.1:${adminPort}` },
      authn: { basic: { realm: 'GPS Data Web Service' }, digest: { realm: 'GPS Data Web Service' } },
    },
  });
  upstream = await startDemoUpstream({
    port: upstreamPort, jwksUrl: `http://127.0.0.1:${adminPort}/.well-known/jwks.json`, issuer: 'trackgate-test', audience: 'upstream-test',
  });
  url = `${gate.url}/rest/v2/devices`;
}, 60000);

afterAll(async () => {
  await gate?.close();
  await upstream?.close();
});

async function curl(...args: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', ...args]);
  const i = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
}

describe('real clients through trackgate to the demo GPS service', () => {
  it('curl --basic', async () => {
    const r = await curl('--basic', '-u', `${DEMO.user}:${DEMO.password}`, url);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).devices.length).toBeGreaterThan(0);
  });

  it('curl --digest (MD5: the first challenge by default)', async () => {
    const r = await curl('--digest', '-u', `${DEMO.user}:${DEMO.password}`, url);
    expect(r.status).toBe(200);
  });

  it('curl --digest with SHA-256 offered first (RFC 7616, userhash)', async () => {
    const sha = await startTrackgate({
      upstreamUrl: upstream.url,
      config: { admin: { listen: '127.0.0.1:0' }, authn: { digest: { realm: 'GPS Data Web Service', algorithms: ['SHA-256', 'MD5'] } } },
    });
    try {
      const challenge = await fetch(`${sha.url}/rest/v2/devices`);
      expect(challenge.headers.get('www-authenticate')).toMatch(/Digest [^,]*realm="GPS Data Web Service".*algorithm=SHA-256/);
      // The identity header is signed by this instance's key, which the demo upstream does not know: look at
      // trackgate's own verdict (its access log), not at the upstream's answer.
      await curl('--digest', '-u', `${DEMO.user}:${DEMO.password}`, `${sha.url}/rest/v2/devices`);
      const line = sha.logRecords().find((l) => l.msg === 'request' && l.scheme === 'digest');
      expect(line).toBeDefined();
    } finally {
      await sha.close();
    }
  });

  it('curl --digest with the wrong password gets 401', async () => {
    const r = await curl('--digest', '-u', `${DEMO.user}:wrong`, url);
    expect(r.status).toBe(401);
  });

  it('Python requests HTTPDigestAuth', async () => {
    const script = [
      'import sys, requests',
      'from requests.auth import HTTPDigestAuth',
      'r = requests.get(sys.argv[1], auth=HTTPDigestAuth(sys.argv[2], sys.argv[3]))',
      'print(r.status_code)',
      'r2 = requests.get(sys.argv[1], auth=(sys.argv[2], sys.argv[3]))',
      'print(r2.status_code)',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', script, url, DEMO.user, DEMO.password]);
    expect(stdout.trim().split('\n')).toEqual(['200', '200']);
  });

  it('wget --http-user', async () => {
    const { stdout } = await run('wget', ['-q', '-O', '-', `--http-user=${DEMO.user}`, `--http-password=${DEMO.password}`, url]);
    expect(JSON.parse(stdout).devices.length).toBeGreaterThan(0);
  });

  it('Apache Bench ab -A (HTTP/1.0, Basic): every request 200', async () => {
    const { stdout } = await run('ab', ['-q', '-n', '200', '-c', '4', '-A', `${DEMO.user}:${DEMO.password}`, url]);
    expect(stdout).toMatch(/Complete requests:\s+200/);
    expect(stdout).toMatch(/Failed requests:\s+0/);
    expect(stdout).not.toMatch(/Non-2xx responses/);
  });
});
