/**
 * Real clients nobody here wrote — curl, wget, Python requests, httpx, httpie, the npm digest-fetch client,
 * Apache Bench (an HTTP/1.0 client, as old trackers are) — authenticate through trackgate, with the demo's
 * credential forms (config/trackgate.yaml `authn`, so its combined 401), to the bundled demo GPS service, which
 * verifies the identity header against trackgate's JWKS. Debian packages installed by .ci/run: curl wget
 * python3-requests python3-httpx python3-requests-oauthlib httpie apache2-utils; digest-fetch is a devDependency.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import DigestClient from 'digest-fetch';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoUpstream, type DemoUpstream } from '../../src/demo/upstream.js';
import { DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';
import { freePort } from '../helpers/ports.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3'; // Debian's, which has python3-requests

/** The demo's credential forms, so the 401 carries every challenge the demo sends. */
const DEMO_AUTHN = (parse(readFileSync(new URL('../../config/trackgate.yaml', import.meta.url), 'utf8')) as { authn: Record<string, unknown> }).authn;

let upstream: DemoUpstream;
let gate: TestGate;
let url: string;
/** The demo service's answer names the scheme trackgate admitted the request with. */
let whoami: string;

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
      authn: DEMO_AUTHN,
    },
  });
  upstream = await startDemoUpstream({
    port: upstreamPort, jwksUrl: `http://127.0.0.1:${adminPort}/.well-known/jwks.json`, issuer: 'trackgate-test', audience: 'upstream-test',
  });
  url = `${gate.url}/rest/v2/devices`;
  whoami = `${gate.url}/rest/v2/whoami`;
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

  it('Python requests: HTTPDigestAuth answers Digest (the last algorithm= it sees, SHA-256); a tuple sends Basic', async () => {
    const script = [
      'import sys, requests',
      'from requests.auth import HTTPDigestAuth',
      'r = requests.get(sys.argv[1], auth=HTTPDigestAuth(sys.argv[2], sys.argv[3]))',
      'print(r.status_code, r.json()["scheme"], r.history[0].status_code)',
      'r2 = requests.get(sys.argv[1], auth=(sys.argv[2], sys.argv[3]))',
      'print(r2.status_code, r2.json()["scheme"])',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', script, whoami, DEMO.user, DEMO.password]);
    expect(stdout.trim().split('\n')).toEqual(['200 digest 401', '200 basic']);
  });

  it('Python httpx DigestAuth (the first Digest challenge: MD5)', async () => {
    const script = [
      'import sys, httpx',
      'r = httpx.get(sys.argv[1], auth=httpx.DigestAuth(sys.argv[2], sys.argv[3]))',
      'print(r.status_code, r.json()["scheme"])',
    ].join('\n');
    const { stdout } = await run(PYTHON, ['-c', script, whoami, DEMO.user, DEMO.password]);
    expect(stdout.trim()).toBe('200 digest');
  });

  it('httpie -A digest (reads only the first WWW-Authenticate line)', async () => {
    const { stdout } = await run('http', ['--ignore-stdin', '--check-status', '--body', '-A', 'digest', '-a', `${DEMO.user}:${DEMO.password}`, whoami]);
    expect(JSON.parse(stdout)).toMatchObject({ scheme: 'digest', sub: DEMO.user });
  });

  it.each([undefined, 'SHA-256'])('npm digest-fetch, algorithm option %s (reads the merged header: Digest must come first)', async (algorithm) => {
    const client = new DigestClient(DEMO.user, DEMO.password, algorithm === undefined ? {} : { algorithm });
    const res = await client.fetch(whoami) as Response;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ scheme: 'digest', sub: DEMO.user });
      });

  it('wget --http-user answers the last WWW-Authenticate line: Digest (MD5)', async () => {
    const { stdout } = await run('wget', ['-q', '-O', '-', `--http-user=${DEMO.user}`, `--http-password=${DEMO.password}`, whoami]);
    expect(JSON.parse(stdout)).toMatchObject({ scheme: 'digest', sub: DEMO.user });
    const { stdout: devices } = await run('wget', ['-q', '-O', '-', `--http-user=${DEMO.user}`, `--http-password=${DEMO.password}`, url]);
    expect(JSON.parse(devices).devices.length).toBeGreaterThan(0);
  });

  it('the combined 401: one header line per challenge, a Digest challenge first and last', async () => {
    const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-D', '-', whoami]);
    const lines = stdout.split('\r\n').filter((l) => /^www-authenticate:/i.test(l)).map((l) => l.replace(/^www-authenticate:\s*/i, ''));
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['Digest', 'Basic', 'X-Token', 'OAuth', 'Bearer', 'Digest']);
    expect(lines[0]).toMatch(/algorithm=MD5,/);
    expect(lines.at(-1)).toMatch(/algorithm=SHA-256,/);
  });

  it('requests-oauthlib password grant: refused over plain HTTP, fine with OAUTHLIB_INSECURE_TRANSPORT=1 (docs/token-endpoints.md)', async () => {
    const script = [
      'import sys',
      'from oauthlib.oauth2 import LegacyApplicationClient',
      'from requests_oauthlib import OAuth2Session',
      's = OAuth2Session(client=LegacyApplicationClient(client_id="demo"))',
      'try:',
      '    t = s.fetch_token(token_url=sys.argv[1], username=sys.argv[2], password=sys.argv[3], include_client_id=True)',
      '    print(t["token_type"], "refresh_token" in t)',
      'except Exception as e:',
      '    print(type(e).__name__)',
    ].join('\n');
    const args = ['-c', script, `${gate.url}/auth/password`, DEMO.user, DEMO.password];
    expect((await run(PYTHON, args)).stdout.trim()).toBe('InsecureTransportError');
    const { stdout } = await run(PYTHON, args, { env: { ...process.env, OAUTHLIB_INSECURE_TRANSPORT: '1' } });
    expect(stdout.trim()).toBe('bearer True');
  });

  it('Apache Bench ab -A (HTTP/1.0, Basic): every request 200', async () => {
    const { stdout } = await run('ab', ['-q', '-n', '200', '-c', '4', '-A', `${DEMO.user}:${DEMO.password}`, url]);
    expect(stdout).toMatch(/Complete requests:\s+200/);
    expect(stdout).toMatch(/Failed requests:\s+0/);
    expect(stdout).not.toMatch(/Non-2xx responses/);
  });
});
