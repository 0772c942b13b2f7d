/**
 * `GET /admin/inventory` and `trackgate inventory` through a real trackgate (SQLite) after a known workload:
 * the operator login (401 with a Basic challenge, wrong password, every `/admin/` path guarded, the other admin
 * paths open), JSON with each filter, RFC 4180 CSV (quoting, formula-looking fields), 400s for bad queries, and
 * the CLI printing the very CSV the endpoint serves.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/accounts/password.js';
import { runInventoryCli } from '../../src/commands/inventory-cli.js';
import { runCli } from '../helpers/cli.js';
import { startGate, type Gate } from '../helpers/gate.js';
import { issueSessionToken } from '../helpers/session-tokens.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { OPERATOR, operatorAuth, operatorsFileText, inventoryGateOptions } from '../helpers/operators.js';

let g: Gate;
const op = operatorAuth;

beforeAll(async () => {
  g = await startGate(await inventoryGateOptions());
  const token = await issueSessionToken(g, { account: 'fleet-7' });
  const send = async (headers: Record<string, string>, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) await (await fetch(`${g.url}/p`, { headers })).arrayBuffer();
  };
  await send({ authorization: basicAuth(DEMO.user, DEMO.password), 'user-agent': 'Tracker "X", v2' }, 3);
  await send({ 'x-token': token, 'user-agent': '=HYPERLINK("http://evil")' }, 2);
  await send({ instanceid: DEMO.instanceId, instancekey: DEMO.instanceKey, devicetoken: DEMO.deviceToken }, 4);
  await g.app.inventory.flush();
});
afterAll(async () => { await g?.close(); });

const admin = (path: string, headers: Record<string, string> = op): Promise<Response> => fetch(`${g.adminUrl}${path}`, { headers });

describe('operator login on the admin port', () => {
  it('asks for it with a Basic challenge and a short JSON body', async () => {
    const r = await admin('/admin/inventory', {});
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Basic realm="trackgate operator", charset="UTF-8"');
    expect(await r.json()).toEqual({ error: 'TG_ERR_NO_CREDENTIALS', message: 'operator login required' });
  });

  it('refuses a wrong password and an unknown operator alike, without naming which', async () => {
    for (const h of [basicAuth(OPERATOR.name, 'nope'), basicAuth('nobody', OPERATOR.password)]) {
      const r = await admin('/admin/inventory', { authorization: h });
      expect(r.status).toBe(401);
      expect(await r.json()).toEqual({ error: 'TG_ERR_INVALID_CREDENTIALS', message: 'invalid operator credentials' });
    }
  });

  it('hashes a login once, then takes it again without a hash (the page\'s requests); a wrong one every time', async () => {
    const own = async (): Promise<number> => (await g.app.metrics.passwordHashes.get()).values.filter((v) => v.labels.work === 'own').reduce((n, v) => n + v.value, 0);
    // The same login spelt with a trailing space: a header value not verified yet, so its first use is hashed.
    const fresh = { authorization: `${basicAuth(OPERATOR.name, OPERATOR.password)} ` };
    const before = await own();
    for (let i = 0; i < 3; i++) expect((await admin('/admin/inventory?limit=1', fresh)).status).toBe(200);
    expect(await own() - before).toBe(1);
    const wrong = await own();
    for (let i = 0; i < 2; i++) expect((await admin('/admin/inventory?limit=1', { authorization: basicAuth(OPERATOR.name, 'nope-again') })).status).toBe(401);
    expect(await own() - wrong).toBe(2);
  });

  it('guards every /admin/ path, served or not, and leaves the others open', async () => {
    expect((await admin('/admin/policies', {})).status).toBe(401);
    expect((await admin('/admin/', {})).status).toBe(401);
    expect((await admin('/admin', {})).status).toBe(401);
    expect((await admin('/admin/anything', {})).status).toBe(401);
    expect((await admin('/admin/anything')).status).toBe(404);
    for (const path of ['/metrics', '/healthz', '/readyz', '/.well-known/jwks.json', '/openapi.json']) {
      expect([path, (await admin(path, {})).status]).toEqual([path, 200]);
    }
  });
});

describe('GET /admin/', () => {
  it('serves the operator page with a CSP that admits only its own script and style', async () => {
    const r = await admin('/admin/');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = r.headers.get('content-security-policy')!;
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)![1]!;
    expect(csp).toContain("default-src 'none'");
    const html = await r.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    // Self-contained: nothing is loaded from elsewhere.
    expect(html).not.toMatch(/\b(src|href)="(https?:)?\/\//);
    const moved = await fetch(`${g.adminUrl}/admin`, { headers: op, redirect: 'manual' });
    expect([moved.status, moved.headers.get('location')]).toEqual([308, '/admin/']);
  });
});

describe('GET /admin/inventory', () => {
  it('lists the workload: one record per client × form × dialect with counts', async () => {
    const r = await admin('/admin/inventory');
    expect(r.headers.get('content-type')).toBe('application/json');
    const body = await r.json() as { truncated: boolean; records: Record<string, unknown>[] };
    expect(body.truncated).toBe(false);
    const rows = body.records.map((x) => [x.scheme, x.dialect, x.subject, x.kind, x.count]);
    expect(rows.sort()).toEqual([
      ['basic', '', DEMO.user, 'user', 3],
      ['instance', 'headers', expect.any(String), 'device', 4],
      ['session_token', 'gps-rest-v2', DEMO.user, 'user', 2],
    ].sort());
  });

  it('filters by scheme, kind, account and last-seen window', async () => {
    const schemes = async (q: string): Promise<unknown[]> => ((await (await admin(`/admin/inventory?${q}`)).json()) as { records: { scheme: string }[] }).records.map((x) => x.scheme).sort();
    expect(await schemes('scheme=basic')).toEqual(['basic']);
    expect(await schemes('kind=device')).toEqual(['instance']);
    expect(await schemes('account=fleet-7')).toEqual(['session_token']);
    expect(await schemes('since=1h')).toEqual(['basic', 'instance', 'session_token']);
    expect(await schemes('limit=1')).toHaveLength(1);
    expect(((await (await admin('/admin/inventory?limit=1')).json()) as { truncated: boolean }).truncated).toBe(true);
  });

  it('serves RFC 4180 CSV: quoted fields with quotes doubled, formula-looking fields defused, CRLF lines', async () => {
    const r = await admin('/admin/inventory?format=csv&scheme=basic');
    expect(r.headers.get('content-type')).toMatch(/^text\/csv/);
    const csv = await r.text();
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe('scheme,dialect,subject,kind,account,instance,firstSeen,lastSeen,count,userAgent,address');
    expect(lines[1]).toMatch(new RegExp(`^basic,,${DEMO.user.replaceAll('.', '\\.')},user,demo-account,,[0-9T:.Z-]+,[0-9T:.Z-]+,3,"Tracker ""X"", v2",$`));
    expect(lines[2]).toBe('');
    const token = await (await admin('/admin/inventory?format=csv&scheme=session_token')).text();
    expect(token.split('\r\n')[1]).toContain(`,2,"'=HYPERLINK(""http://evil"")",`);
  });

  it('answers a bad query with 400 naming the parameter', async () => {
    for (const [q, message] of [['since=30x', 'since: '], ['limit=0', 'limit: '], ['format=xml', 'format: '], ['scheme=', 'scheme: ']] as const) {
      const r = await admin(`/admin/inventory?${q}`);
      expect(r.status).toBe(400);
      const body = await r.json() as { error: string; message: string };
      expect(body.error).toBe('TG_ERR_BAD_REQUEST');
      expect(body.message.startsWith(message)).toBe(true);
    }
  });
});

describe('trackgate inventory', () => {
  it('prints the CSV the endpoint serves, and a table by default', async () => {
    const out: string[] = [];
    const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) }, env: {} };
    expect(await runInventoryCli(['inventory', '--config', g.configFile, '--format', 'csv', '--since', '30d'], io)).toBe(0);
    expect(out.join('')).toBe(await (await admin('/admin/inventory?format=csv&since=30d')).text());
    const cli = await runCli(['inventory', '--config', g.configFile, '--scheme', 'instance']);
    expect(cli.code).toBe(0);
    const [head, row, ...rest] = cli.stdout.trimEnd().split('\n');
    expect(head).toMatch(/^scheme +dialect +subject +kind +account +instance +lastSeen +count +userAgent$/);
    expect(row).toMatch(new RegExp(`^instance +headers +\\S+ +device +${DEMO.instanceId} +\\S+ +4 +node$`));
    expect(rest).toEqual([]);
  });

  it('exits 2 on a bad option, before opening the store', async () => {
    const err: string[] = [];
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) }, env: {} };
    expect(await runInventoryCli(['inventory', '--config', join(g.dir, 'missing.yaml'), '--since', 'soon'], io)).toBe(2);
    expect(err.join('')).toContain('--since: a number and a unit');
  });
});

it('answers 403 on /admin/ paths while no operators file is configured', async () => {
  const plain = await startGate({ config: { logging: { level: 'warn' } } });
  try {
    const r = await fetch(`${plain.adminUrl}/admin/inventory`, { headers: op });
    expect(r.status).toBe(403);
    expect(await r.json()).toEqual({ error: 'TG_ERR_FORBIDDEN', message: 'no operators configured: set admin.operatorsFile' });
  } finally {
    await plain.close();
  }
});

it('reads an operator added to the file without a reload', async () => {
  writeFileSync(join(g.dir, 'operators.htpasswd'), `${await operatorsFileText()}second:${await hashPassword('second-pw', { ln: 10, r: 8, p: 1 })}\n`);
  expect((await admin('/admin/inventory?limit=1', { authorization: basicAuth('second', 'second-pw') })).status).toBe(200);
});
