import { it } from 'vitest';
import { startRecordingUpstream } from '../helpers/recording-upstream.js';
import { basicAuth, DEMO, startTrackgate } from '../helpers/trackgate.js';
import { portOf, rawRequest } from './_util.js';
const AUTH = basicAuth(DEMO.user, DEMO.password);
it('probe', async () => {
  const up = await startRecordingUpstream();
  const g = await startTrackgate({ upstreamUrl: up.url });
  const p = portOf(g.url);
  const show = async (name: string, payload: string, opts = {}) => {
    const from = g.logs.length;
    const r = await rawRequest(p, payload, { timeoutMs: 2000, ...opts });
    console.log('=== ' + name, JSON.stringify(r.raw.toString('latin1').slice(0, 400)), r.closed, r.error, 'upstream:', up.received.map((x) => x.method + ' ' + x.url), g.logs.slice(from).map(l=>l.slice(0,300)));
    up.received.length = 0;
  };
  // await show('no host 1.1', `GET /x HTTP/1.1\r\nAuthorization: ${AUTH}\r\n\r\n`);
  // await show('connect', `CONNECT evil:443 HTTP/1.1\r\nHost: evil:443\r\nAuthorization: ${AUTH}\r\n\r\n`);
  // await show('options *', `OPTIONS * HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\n`);
  await show('head', `HEAD /x HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\nGET /y HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nConnection: close\r\n\r\n`, { waitClose: true, bodiless: new Set([0]) });
  await show('expect', `POST /x HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`, { waitClose: true });
  await show('expect no auth', `POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n`, { waitClose: true });
  await show('h2c', `GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n`, { waitClose: true });
  await show('bogus upgrade', `GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n`, { waitClose: true });
  await show('trace', `TRACE /x HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nConnection: close\r\n\r\n`, { waitClose: true });
  await g.close(); await up.close();
}, 30000);
