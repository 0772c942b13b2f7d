/**
 * The telematics document's "Authorization via Swagger" (issue 18 part 4) in a real headless Chromium: the
 * admin port's Swagger UI (`/docs/`, swagger-ui-dist's own assets) over `/openapi.json`; "Try it out" on
 * `POST /v1/Auth/Login` with the InstanceId ready, the Bearer JWT pasted into "Authorize", then "Try it out"
 * on a protected demo path through the proxy port, another origin (CORS: `routing.corsOrigins`).
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage } from '../helpers/chromium.js';
import { startDemo, type DemoProcess } from '../helpers/demo-process.js';
import { DEMO } from '../helpers/trackgate.js';

let demo: DemoProcess;
let browser: Browser;

beforeAll(async () => {
  [demo, browser] = await Promise.all([
    startDemo((admin) => ({ TRACKGATE_ROUTING_CORS_ORIGINS: JSON.stringify([admin]) })),
    launchChromium(),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await demo?.stop();
});

/** Opens an operation's block and presses "Try it out". */
async function tryOut(page: Page, id: string): Promise<ReturnType<Page['locator']>> {
  const op = page.locator(`#${id}`);
  await op.locator('.opblock-summary').first().click();
  await op.locator('button.try-out__btn').click();
  return op;
}

describe('Swagger UI on the admin port', () => {
  it('logs in at /v1/Auth/Login, authorizes with the Bearer JWT, and "Try it out" reaches the demo service', async () => {
    const { context, page, errors } = await openPage(browser);
    await page.goto(`${demo.admin}/docs/`);
    await page.locator('#operations-telematics-telematics_post_v1_Auth_Login').waitFor();
    // The document's server is the proxy port, so "Try it out" goes there.
    expect(await page.locator('.servers select').inputValue()).toBe(demo.proxy);

    const login = await tryOut(page, 'operations-telematics-telematics_post_v1_Auth_Login');
    await login.locator('tr[data-param-name="InstanceId"] input').fill(DEMO.apiInstanceId);
    await login.locator('tr[data-param-name="InstanceKey"] input').fill(DEMO.apiInstanceKey);
    await login.locator('textarea.body-param__text').fill(JSON.stringify({ loginFields: { Email: DEMO.adminEmail }, password: DEMO.adminPassword }));
    const reply = page.waitForResponse((r) => r.url() === `${demo.proxy}/v1/Auth/Login` && r.request().method() === 'POST');
    await login.locator('button.execute').click();
    const res = await reply;
    expect(res.status()).toBe(200);
    const { Result, Status } = await res.json() as { Result: { AccessToken: { Token: string } }; Status: number };
    expect(Status).toBe(200);
    const jwt = Result.AccessToken.Token;
    expect(jwt.split('.')).toHaveLength(3);
    await expect.poll(() => login.locator('.live-responses-table tr.response .response-col_status').first().textContent()).toBe('200');

    // "Please add Bearer JWT to authorization form."
    await page.locator('.scheme-container button.authorize').click();
    const bearer = page.locator('.modal-ux .auth-container').filter({ hasText: 'bearer (http, Bearer)' });
    await bearer.locator('input').fill(jwt);
    await bearer.locator('button.authorize').click();
    await page.locator('.modal-ux button.close-modal').click();

    const whoami = await tryOut(page, 'operations-upstream-upstream_get_rest_v2_whoami');
    const forwarded = page.waitForResponse((r) => r.url() === `${demo.proxy}/rest/v2/whoami`);
    await whoami.locator('button.execute').click();
    const answer = await forwarded;
    expect(answer.status()).toBe(200);
    expect(answer.request().headers().authorization).toBe(`Bearer ${jwt}`);
    // The demo service's answer: the claims of the identity header trackgate minted from the JWT.
    expect(await answer.json()).toMatchObject({ sub: DEMO.adminEmail, kind: 'admin', scheme: 'bearer', instance: DEMO.apiInstanceId });
    await expect.poll(() => whoami.locator('.live-responses-table tr.response .response-col_status').first().textContent()).toBe('200');

    expect(errors).toEqual([]);
    await context.close();
  });
});
