/**
 * The operator page (`GET /admin/`) in headless Chromium (Debian's, through playwright-core) after a known
 * workload on a real trackgate, logged in as an operator (the 401 without a login is in
 * test/admin/inventory-endpoint.test.ts: headless Chromium turns it into a navigation error): clients and request counts per form,
 * the search, auth failures by reason, "no policies" while `/admin/policies` is 404, upstream health, the chart
 * drawn from two samples of /metrics, the CSV export byte-for-byte the API's, no console errors, a screenshot.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OPERATOR, operatorAuth, inventoryGateOptions } from '../helpers/operators.js';
import { launchChromium, SCREENSHOTS } from '../helpers/chromium.js';
import { startGate, type Gate } from '../helpers/gate.js';
import { issueSessionToken } from '../helpers/session-tokens.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';

let g: Gate;
let browser: Browser;

async function send(headers: Record<string, string>, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await (await fetch(`${g.url}/p`, { headers })).arrayBuffer();
}

beforeAll(async () => {
  [g, browser] = await Promise.all([startGate(await inventoryGateOptions()), launchChromium()]);
  const token = await issueSessionToken(g, { account: 'fleet-7' });
  await send({ authorization: basicAuth(DEMO.user, DEMO.password), 'user-agent': 'tracker/1.0' }, 3);
  await send({ 'x-token': token, 'user-agent': 'legacy-app/2' }, 2);
  await send({ instanceid: DEMO.instanceId, instancekey: DEMO.instanceKey, devicetoken: DEMO.deviceToken, 'user-agent': 'device-fw/7' }, 4);
  await send({ authorization: basicAuth(DEMO.user, 'wrong') }, 2);
  await send({}, 1);
  await g.app.inventory.flush();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await g?.close();
});

it('shows the workload, exports the API\'s CSV and logs no error', async () => {
  const context = await browser.newContext({ httpCredentials: { username: OPERATOR.name, password: OPERATOR.password }, viewport: { width: 1100, height: 1400 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => { errors.push(`pageerror: ${e.message}`); });
  try {
    const res = await page.goto(`${g.adminUrl}/admin/`);
    expect(res?.status()).toBe(200);
    // Requests between the first two samples of /metrics give the chart a rate to draw (the inventory is not
    // written again: flushSeconds is long, so its figures stay those of the workload).
    await page.waitForSelector('body[data-refreshed="1"]', { timeout: 15_000 });
    await send({ authorization: basicAuth(DEMO.user, DEMO.password), 'user-agent': 'tracker/1.0' }, 6);
    await page.waitForSelector('body[data-refreshed="2"]', { timeout: 15_000 });
    const legend = await page.textContent('#legend');
    expect(legend).toMatch(/basic [1-9]\d*\.\d\/s|basic 0\.[1-9]\/s/);
    expect(legend).toContain('session_token 0.0/s');

    const rows = async (table: string): Promise<string[][]> => page.$$eval(`${table} tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    expect(await rows('#by-scheme')).toEqual([['basic', '1', '3'], ['instance', '1', '4'], ['session_token', '1', '2']]);
    const clients = await rows('#clients');
    expect(clients.map((r) => [r[0], r[1], r[2], r[4], r[7], r[8]]).sort()).toEqual([
      ['basic', '', DEMO.user, 'demo-account', '3', 'tracker/1.0'],
      ['instance', 'headers', expect.any(String), '', '4', 'device-fw/7'],
      ['session_token', 'gps-rest-v2', DEMO.user, 'fleet-7', '2', 'legacy-app/2'],
    ].sort());
    await page.fill('#search', 'legacy-app');
    expect((await rows('#clients')).map((r) => r[0])).toEqual(['session_token']);
    await page.fill('#search', '');

    expect(await rows('#failures')).toEqual([['invalid', '2'], ['no_credentials', '1']]);
    expect(await page.textContent('#policies')).toBe('no policies');
    expect(await page.textContent('#upstream')).toBe('up');
    expect(await page.textContent('#store')).toBe('up');
    // Distinct (subject, kind, account, instance): the user under two accounts is two clients, and the device.
    expect(await page.textContent('#client-count')).toBe('3');
    expect(await page.textContent('#hit-ratio')).toMatch(/^\d+\.\d %$/);
    const totals = Object.fromEntries(await rows('#request-totals'));
    expect(totals).toMatchObject({ basic: '11', session_token: '2', instance: '4', none: '1' });
    const lines = await page.$$eval('#chart polyline', (ps) => ps.map((p) => p.getAttribute('data-scheme')));
    expect(lines).toEqual(expect.arrayContaining(['basic', 'instance', 'session_token']));
    // Each line is drawn: at least two points, so even the first interval's rate is visible.
    const points = await page.$$eval('#chart polyline', (ps) => ps.map((p) => (p.getAttribute('points') ?? '').split(' ').length));
    for (const n of points) expect(n).toBeGreaterThanOrEqual(2);
    expect(await page.textContent('#updated')).toMatch(/^updated /);

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
    const exported = readFileSync((await download.path())!, 'utf8');
    const api = await (await fetch(`${g.adminUrl}/admin/inventory?format=csv`, { headers: operatorAuth })).text();
    expect(exported).toBe(api);
    expect(exported.split('\r\n')).toHaveLength(5);

    await page.screenshot({ path: join(SCREENSHOTS, 'operator-page.png'), fullPage: true });
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
}, 60_000);
