/**
 * Logs never hold a secret. Requests carrying secrets in every carrier trackgate knows (good, bad,
 * malformed, over-long, ambiguous, rejected) go through a real trackgate logging at `trace`; no captured
 * line may contain a secret, its base64 or its URL encoding. The access line still says what happened
 * (method, scrubbed path, status, scheme, sub, fingerprint, duration, request id). And pino's redaction
 * censors secret-bearing fields a future log call might include by mistake.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { AUTHENTICATORS } from '../../src/authn/registry.js';
import { createLogger, redactQuery, REDACT_PATHS } from '../../src/observability/log.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, startTrackgate, type TestGate } from '../helpers/trackgate.js';

const SECRETS = {
  basicPassword: DEMO.password,
  webServiceKey: DEMO.webServiceKey,
  queryToken: 'SECRET1-query-token-5b1e',
  accessToken: 'SECRET2-access-token-77c3',
  cookieToken: 'SECRET3-cookie-token-0d2a',
  xToken: 'SECRET4-x-token-a91f',
  instanceKey: 'SECRET5-instance-key-31be',
  deviceToken: 'SECRET6-device-token-e04c',
  wrongPassword: 'SECRET7-wrong-password-c6d8',
  malformed: 'SECRET8-no-colon-4e0a',
  bearer: 'SECRET9-bearer-token-8f21',
  oauth: 'SECRET10-oauth-token-1a7b',
  ambiguous: 'SECRET11-ambiguous-pw-9c3d',
  forbidden: 'SECRET12-forbidden-pw-2b5e',
  longHeader: 'SECRET13-long-header-f00d',
  apiPassword: DEMO.adminPassword,
  demoInstanceKey: DEMO.instanceKey,
  demoDeviceToken: DEMO.deviceToken,
} as const;

/** Every way a secret could show up in a line. */
function forms(secret: string, user = DEMO.user): string[] {
  return [
    secret,
    encodeURIComponent(secret),
    Buffer.from(secret).toString('base64'),
    Buffer.from(secret).toString('base64url'),
    Buffer.from(`${user}:${secret}`).toString('base64'),
    Buffer.from(`${user}:${secret}`).toString('base64').slice(8, 24),
  ];
}

/** Raw HTTP/1.1 request (fetch refuses some of the malformed headers these tests need). */
function send(base: string, path: string, headers: Record<string, string | string[]>): Promise<number> {
  const u = new URL(base);
  return new Promise((resolve) => {
    const req = request({ host: u.hostname, port: u.port, path, headers, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function secretBearingTraffic(gate: TestGate): Promise<Record<string, number>> {
  const s = SECRETS;
  const base = gate.url;
  const statuses: Record<string, number> = {};
  const reqs: [string, string, Record<string, string | string[]>][] = [
    ['basic ok', '/rest/v2/devices?x=1', { authorization: basicAuth(DEMO.user, s.basicPassword) }],
    ['basic ok again (cache hit)', '/rest/v2/devices', { authorization: basicAuth(DEMO.user, s.basicPassword) }],
    ['web-service key as Basic password', '/rest/v2/devices', { authorization: basicAuth(DEMO.user, s.webServiceKey) }],
    ['web-service key in key= query', `/rest/v2/devices?key=${s.webServiceKey}`, {}],
    ['_token query', `/rest/v2/devices?a=b&_token=${s.queryToken}&c=d`, {}],
    ['access_token query', `/geoloqi?access_token=${s.accessToken}`, {}],
    ['token cookie', '/rest/v2/devices', { cookie: `theme=dark; token=${s.cookieToken}` }],
    ['X-Token', '/rest/v2/devices', { 'x-token': s.xToken }],
    ['InstanceKey without InstanceId', '/telematics', { instancekey: s.instanceKey }],
    ['instance headers', '/telematics', { instanceid: 'demo-instance', instancekey: s.instanceKey, devicetoken: s.deviceToken }],
    ['instance headers, demo secrets', '/telematics', { instanceid: DEMO.instanceId, instancekey: s.demoInstanceKey, devicetoken: s.demoDeviceToken }],
    ['instance admin Basic', '/telematics', { instanceid: DEMO.apiInstanceId, authorization: basicAuth(DEMO.adminEmail, s.apiPassword) }],
    ['wrong password', '/rest/v2/devices', { authorization: basicAuth(DEMO.user, s.wrongPassword) }],
    ['wrong password, unknown user', '/rest/v2/devices', { authorization: basicAuth('nobody', s.wrongPassword) }],
    ['malformed Basic (no colon)', '/rest/v2/devices', { authorization: `Basic ${Buffer.from(s.malformed).toString('base64')}` }],
    ['malformed Basic (not base64)', '/rest/v2/devices', { authorization: `Basic ${s.malformed}!!` }],
    ['unknown scheme', '/rest/v2/devices', { authorization: `Weird ${s.malformed}` }],
    ['Bearer', '/rest/v2/devices', { authorization: `Bearer ${s.bearer}` }],
    ['Authentication: Bearer', '/rest/v2/devices', { authentication: `Bearer ${s.bearer}` }],
    ['OAuth header', '/rest/v2/devices', { authorization: `OAuth ${s.oauth}` }],
    ['ambiguous: Basic and X-Token', '/rest/v2/devices', { authorization: basicAuth(DEMO.user, s.ambiguous), 'x-token': s.xToken }],
    ['duplicate Authorization', '/rest/v2/devices', { authorization: [basicAuth(DEMO.user, s.ambiguous), basicAuth(DEMO.user, s.basicPassword)] }],
    ['rejected by a deny route', '/denied/x', { authorization: basicAuth(DEMO.user, s.forbidden) }],
    ['dot segments with a token', `/a/../b?_token=${s.queryToken}`, { authorization: basicAuth(DEMO.user, s.forbidden) }],
    ['over-long header', '/rest/v2/devices', { authorization: basicAuth(DEMO.user, s.longHeader), 'x-big': `${s.longHeader}${'a'.repeat(20000)}` }],
    ['over-long Authorization', '/rest/v2/devices', { authorization: `Basic ${Buffer.from(`${DEMO.user}:${s.longHeader}${'b'.repeat(20000)}`).toString('base64')}` }],
    ['public route with credentials', `/public/x?_token=${s.queryToken}`, { authorization: basicAuth(DEMO.user, s.basicPassword), cookie: `token=${s.cookieToken}` }],
  ];
  for (const [name, path, headers] of reqs) statuses[name] = await send(base, path, headers);
  // A raw request head that Node's parser rejects, carrying a secret (the parse error holds the raw packet).
  await new Promise<void>((resolve) => {
    const u = new URL(base);
    import('node:net').then(({ connect }) => {
      const sock = connect(Number(u.port), u.hostname, () => {
        sock.write(`GET /x HTTP/1.1\r\nHost: a\r\nAuthorization: ${basicAuth(DEMO.user, s.malformed)}\r\nBad Header\r\n\r\n`);
      });
      sock.on('data', () => undefined);
      sock.on('close', () => resolve());
      sock.on('error', () => resolve());
    });
  });
  return statuses;
}

function assertNoSecrets(gate: TestGate): void {
  const all = gate.logs.join('\n');
  for (const [name, secret] of Object.entries(SECRETS)) {
    for (const f of forms(secret)) {
      if (all.includes(f)) {
        const line = gate.logs.find((l) => l.includes(f));
        expect.fail(`secret ${name} (as ${JSON.stringify(f)}) appears in a log line: ${line}`);
      }
    }
  }
}

/** Every form that can be enabled without further settings (e.g. a remote URL). */
const everyForm = Object.fromEntries(AUTHENTICATORS
  .filter((m) => m.options.safeParse({ enabled: true }).success)
  .map((m) => [m.id, { enabled: true }]));

describe.each([
  ['default forms', {}],
  ['every form enabled', everyForm],
])('logs at trace level, %s', (_label, authn) => {
  let up: RecordingUpstream;
  let gate: TestGate;
  let statuses: Record<string, number>;
  beforeAll(async () => {
    up = await startRecordingUpstream();
    gate = await startTrackgate({
      upstreamUrl: up.url,
      config: {
        logging: { level: 'trace' },
        authn,
        routes: [{ path: '/denied', access: 'deny' }, { path: '/public', access: 'public' }],
      },
    });
    statuses = await secretBearingTraffic(gate);
  });
  afterAll(async () => { await gate?.close(); await up?.close(); });

  it('the traffic did what it should (so the logs below are the interesting ones)', () => {
    expect(statuses['basic ok']).toBe(200);
    expect(statuses['web-service key as Basic password']).toBe(200);
    expect(statuses['wrong password']).toBe(401);
    expect(statuses['malformed Basic (no colon)']).toBe(400);
    expect(statuses['duplicate Authorization']).toBe(400);
    expect(statuses['rejected by a deny route']).toBe(403);
    expect(statuses['over-long header']).toBe(431);
    expect(statuses['public route with credentials']).toBe(200);
    expect(gate.logs.length).toBeGreaterThan(20);
    expect(gate.logRecords().some((r) => r.level === 'warn' && r.msg === 'malformed request rejected')).toBe(true);
  });

  it('no line holds a secret, its base64 or its URL encoding', () => {
    assertNoSecrets(gate);
  });

  it('the access line has method, scrubbed path, status, scheme, sub, fingerprint, ms and request id', () => {
    const records = gate.logRecords();
    const ok = records.find((r) => r.msg === 'request' && r.path === '/rest/v2/devices?x=1');
    expect(ok, gate.logs.join('\n')).toBeDefined();
    expect(ok).toMatchObject({ level: 'info', method: 'GET', status: 200, scheme: 'basic', sub: DEMO.user, kind: 'user', cache: 'miss' });
    expect(ok!.fp).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(typeof ok!.ms).toBe('number');
    expect(ok!.rid).toMatch(/\S/);
    // The same credential has the same fingerprint; the cache hit is visible.
    const again = records.find((r) => r.msg === 'request' && r.path === '/rest/v2/devices' && r.cache === 'hit');
    expect(again?.fp).toBe(ok!.fp);

    const rejected = records.find((r) => r.msg === 'request rejected' && r.err === 'TG_ERR_INVALID_CREDENTIALS' && r.scheme === 'basic');
    expect(rejected).toMatchObject({ level: 'warn', method: 'GET', status: 401, scheme: 'basic', reason: 'invalid' });
    expect(rejected!.fp).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(rejected!.fp).not.toBe(ok!.fp);
    expect(rejected!.sub).toBeUndefined();

    // Credential query parameters are scrubbed from the logged path; the other parameters stay.
    const q = records.find((r) => typeof r.path === 'string' && (r.path as string).startsWith('/rest/v2/devices?a=b'));
    expect(q?.path).toMatch(/^\/rest\/v2\/devices\?a=b(&|&\S*&)c=d$/);
    const pub = records.find((r) => typeof r.path === 'string' && (r.path as string).startsWith('/public/x'));
    expect(pub).toMatchObject({ status: 200, scheme: 'public' });
  });
});

describe('pino redaction', () => {
  function capture(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
    const lines: string[] = [];
    const destination = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb(); } });
    return { lines, logger: createLogger({ level: 'trace', destination }) };
  }

  it('censors authorization, password and the other secret fields, one and two levels deep and in headers', () => {
    const { lines, logger } = capture();
    logger.info({
      authorization: 'Basic c2VjcmV0LWF1dGgtMQ==',
      password: 'secret-pw-2',
      user: { password: 'secret-pw-3', name: 'kept-name' },
      req: { headers: { authorization: 'Bearer secret-4', cookie: 'token=secret-5', instancekey: 'secret-6', devicetoken: 'secret-7', accept: 'kept/accept' } },
      token: 'secret-8', key: 'secret-9', secret: 'secret-10', client_secret: 'secret-11', refreshToken: 'secret-12',
    }, 'oops');
    const line = lines.join('');
    for (let i = 1; i <= 12; i++) expect(line).not.toMatch(new RegExp(`secret-(pw-)?${i}\\b`));
    expect(line).not.toContain('c2VjcmV0LWF1dGgtMQ==');
    const rec = JSON.parse(line) as Record<string, any>;
    expect(rec.authorization).toBe('[redacted]');
    expect(rec.password).toBe('[redacted]');
    expect(rec.user).toEqual({ password: '[redacted]', name: 'kept-name' });
    expect(rec.req.headers.authorization).toBe('[redacted]');
    expect(rec.req.headers.cookie).toBe('[redacted]');
    expect(rec.req.headers.accept).toBe('kept/accept');
    expect(rec.msg).toBe('oops');
  });

  it('censors the hyphenated credential headers too (x-token, proxy-authorization, set-cookie)', () => {
    const { lines, logger } = capture();
    logger.warn({ req: { headers: { 'x-token': 'secret-xt', 'proxy-authorization': 'Basic secret-pa', 'set-cookie': 'token=secret-sc', authentication: 'Bearer secret-an' } } }, 'oops');
    const line = lines.join('');
    for (const s of ['secret-xt', 'secret-pa', 'secret-sc', 'secret-an']) expect(line).not.toContain(s);
  });

  it('censors in child loggers and for every level', () => {
    const { lines, logger } = capture();
    const child = logger.child({ component: 'x' });
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const) child[level]({ password: `secret-${level}` }, 'm');
    expect(lines).toHaveLength(6);
    expect(lines.join('')).not.toMatch(/secret-/);
  });

  it('covers one and two levels for every listed field', () => {
    expect(REDACT_PATHS).toEqual(expect.arrayContaining(['authorization', '*.authorization', '*.headers.authorization', 'password', '*.password']));
  });

  it('censors secret query parameter values in any logged path or url, keeping the rest as sent', () => {
    const { lines, logger } = capture();
    logger.info({ path: '/a?x=1&key=secret-k&_token=secret-t&Access_Token=secret-at&%6Bey=secret-enc&y=2&flag', url: '/b?password=secret-p' }, 'm');
    const rec = JSON.parse(lines.join('')) as { path: string; url: string };
    expect(rec.path).toBe('/a?x=1&key=[redacted]&_token=[redacted]&Access_Token=[redacted]&%6Bey=[redacted]&y=2&flag');
    expect(rec.url).toBe('/b?password=[redacted]');
    expect(redactQuery('/plain/path')).toBe('/plain/path');
    expect(redactQuery('/p?keyboard=qwerty&monkey=1')).toBe('/p?keyboard=qwerty&monkey=1');
  });
});
