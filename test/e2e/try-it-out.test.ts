/**
 * The "Try it out" data browser (issue 18 part 1) in a real headless Chromium against `trackgate demo`: the
 * prefilled login posts to /rest/v2/token, follows the 303 with the cookie, shows the devices, the track, the
 * zones and live updates; logout revokes the token; a wrong password shows the seed's 400 in words.
 */
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage, SCREENSHOTS } from '../helpers/chromium.js';
import { startDemo, type DemoProcess } from '../helpers/demo-process.js';

let demo: DemoProcess;
let browser: Browser;

beforeAll(async () => {
  [demo, browser] = await Promise.all([startDemo(), launchChromium()]);
});
afterAll(async () => {
  await browser?.close();
  await demo?.stop();
});

describe('Try it out', () => {
  it('logs in with the prefilled fields, shows the data and live updates, and logs out', async () => {
    const { context, page, errors } = await openPage(browser);
    await page.goto(`${demo.proxy}/`);
    expect(await page.inputValue('#username')).toBe('j.random.user');
    expect(await page.inputValue('#password')).toBe('j.random.password');

    const gateway = page.waitForResponse((r) => new URL(r.url()).pathname === '/rest/v2/gateway');
    await page.click('#login-button');
    const gatewayUrl = new URL((await gateway).url());
    // The seed's flow: the 303 carried the token in `_token` and in the cookie the gateway request sent.
    const token = gatewayUrl.searchParams.get('_token');
    expect(token).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect((await context.cookies()).find((c) => c.name === 'token')).toMatchObject({ value: token, httpOnly: true });

    await page.locator('#data').waitFor({ state: 'visible' });
    expect(await page.textContent('#who')).toContain('j.random.user');
    const rows = page.locator('#devices tbody tr');
    await expect.poll(() => rows.count()).toBe(4);
    expect(await rows.first().textContent()).toContain('trk-001');
    expect(await rows.first().textContent()).toContain('Delivery van Berlin');
    // The track: a polyline of the device's positions, and the zones table.
    const points = await page.getAttribute('#track polyline', 'points');
    expect(points?.split(' ').length).toBeGreaterThan(100);
    expect(await page.locator('#zones tbody tr').count()).toBe(4);

    // Live: the feed sends one device a second, round robin; trk-001's cell and marker move.
    const marker = page.locator('#live-marker');
    const at = async (): Promise<string> => `${await marker.getAttribute('cx')},${await marker.getAttribute('cy')}`;
    const before = await at();
    await expect.poll(() => page.textContent('#live-count'), { timeout: 10_000 }).toMatch(/^(?:[5-9]|\d{2,})$/);
    expect(await page.textContent('#live-state')).toBe('connected');
    expect(await rows.first().locator('td.updated').textContent()).toMatch(/^\d+\.\d{5}, \d+\.\d{5} at \d\d:\d\d:\d\d$/);
    await expect.poll(at).not.toBe(before);
    await page.screenshot({ path: join(SCREENSHOTS, 'try-it-out.png'), fullPage: true });

    await page.click('#logout');
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.textContent('#login-message')).toContain('Logged out');
    expect((await context.cookies()).find((c) => c.name === 'token')).toBeUndefined();
    // Revoked, not only forgotten: the token itself is refused now.
    expect((await fetch(`${demo.proxy}/rest/v2/devices?_token=${token}`)).status).toBe(401);
    // A new visit asks to log in again.
    await page.reload();
    expect(await page.isVisible('#login-form')).toBe(true);
    expect(await page.isVisible('#data')).toBe(false);

    expect(errors).toEqual([]);
    await context.close();
  });

  it('a wrong password shows the seed\'s 400 as a readable message', async () => {
    const { context, page, errors } = await openPage(browser);
    await page.goto(`${demo.proxy}/`);
    await page.fill('#password', 'not-the-password');
    const reply = page.waitForResponse((r) => new URL(r.url()).pathname === '/rest/v2/token');
    await page.click('#login-button');
    expect((await reply).status()).toBe(400);
    await page.locator('#login-message').waitFor({ state: 'visible' });
    expect(await page.textContent('#login-message')).toBe('Wrong username or password (HTTP 400: bad credentials).');
    expect(await page.isVisible('#data')).toBe(false);
    // Chromium reports every 4xx it fetched on the console; that one is the only error allowed.
    expect(errors).toEqual([expect.stringMatching(/^console: Failed to load resource: .* 400 \(Bad Request\)$/)]);
    await context.close();
  });

  it('the demo\'s operator page opens with the operator its README names (config/operators.htpasswd)', async () => {
    const login = `Basic ${Buffer.from('demo-operator:demo-operator-password').toString('base64')}`;
    expect((await fetch(`${demo.admin}/admin/`)).status).toBe(401);
    const page = await fetch(`${demo.admin}/admin/`, { headers: { authorization: login } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('trackgate operator');
    expect((await fetch(`${demo.admin}/admin/inventory`, { headers: { authorization: login } })).status).toBe(200);
  });
});
