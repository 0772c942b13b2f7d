/**
 * Geoloqi's rule that a user token acts only for itself, wherever `user_id` arrives: the query (any spelling
 * an upstream's parser reads: `user_id[]`, `;` separators) and the bodies an upstream parses into its
 * parameters (form, JSON, multipart; a POST without a type, which Rack reads as a form). Through a real
 * trackgate and a recording upstream.
 */
import { gzipSync } from 'node:zlib';
import { beforeEach, describe, expect, it } from 'vitest';
import type { TokenRecord } from '../../src/store/types.js';
import { useGate } from '../helpers/gate.js';
import { issueGeoloqiToken } from '../helpers/geoloqi-token.js';
import { DEMO } from '../helpers/trackgate.js';

const LIMIT = 4096;
const gate = useGate({ config: { authn: { oauth: { enabled: true, userIdBodyBytes: LIMIT } } } });
beforeEach(() => { gate.up.received.length = 0; });

const issue = (over: Partial<TokenRecord> = {}): Promise<string> => issueGeoloqiToken(gate, over);

const post = (token: string, body: string | Uint8Array, type?: string, extra: Record<string, string> = {}) => fetch(`${gate.url}/layer/subscribe/YYY`, {
  method: 'POST', body, headers: { authorization: `OAuth ${token}`, ...(type === undefined ? {} : { 'content-type': type }), ...extra },
});

/** A chunked POST (no Content-Length): the body arrives as `chunks`. */
function postChunked(token: string, chunks: readonly string[], type: string): Promise<Response> {
  let i = 0;
  const body = new ReadableStream({ pull(c) { if (i < chunks.length) c.enqueue(new TextEncoder().encode(chunks[i++])); else c.close(); } });
  return fetch(`${gate.url}/a`, {
    method: 'POST', body, duplex: 'half', headers: { authorization: `OAuth ${token}`, 'content-type': type },
  } as RequestInit);
}

function multipart(fields: [name: string, value: string][], boundary = 'tg-b0undary'): { body: string; type: string } {
  const body = fields.map(([n, v]) => `--${boundary}\r\ncontent-disposition: form-data; name="${n}"\r\n\r\n${v}\r\n`).join('') + `--${boundary}--\r\n`;
  return { body, type: `multipart/form-data; boundary=${boundary}` };
}

describe('oauth user_id in a body: a user token naming someone else → 403', () => {
  it.each([
    ['form', 'user_id=NNN&layer=YYY', 'application/x-www-form-urlencoded'],
    ['form with a charset', 'layer=YYY&user_id=NNN', 'application/x-www-form-urlencoded; charset=UTF-8'],
    ['form, bracketed name', 'user_id[]=NNN', 'application/x-www-form-urlencoded'],
    ['form, percent-encoded name', 'user%5Fid=NNN', 'application/x-www-form-urlencoded'],
    ['form, ; separator', 'layer=YYY;user_id=NNN', 'application/x-www-form-urlencoded'],
    ['form, own id then another', 'user_id=PAE&user_id=NNN', 'application/x-www-form-urlencoded'],
    ['JSON', '{"layer":"YYY","user_id":"NNN"}', 'application/json'],
    ['JSON, escaped key', '{"user\\u005fid":"NNN"}', 'application/json'],
    ['JSON, number', '{"user_id":7}', 'application/json; charset=utf-8'],
    ['JSON, +json type', '{"user_id":"NNN"}', 'application/vnd.api+json'],
    ['multipart', multipart([['layer', 'YYY'], ['user_id', 'NNN']]).body, multipart([]).type],
  ])('%s', async (_name, body, type) => {
    const token = await issue();
    const res = await post(token, body, type);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_FORBIDDEN' });
    expect(gate.up.received).toHaveLength(0);
  });

  it('a POST without a Content-Type (Rack reads it as a form)', async () => {
    const token = await issue();
    const res = await post(token, new TextEncoder().encode('user_id=NNN'));
    expect(res.status).toBe(403);
    expect(gate.up.received).toHaveLength(0);
  });

  it('a chunked form body', async () => {
    const token = await issue();
    expect((await postChunked(token, ['a=1&', 'user_id=NNN'], 'application/x-www-form-urlencoded')).status).toBe(403);
  });

  it('JSON naming user_id twice (parsers disagree on which counts) → 400', async () => {
    const token = await issue();
    const res = await post(token, '{"user_id":"PAE","user_id":"NNN"}', 'application/json');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_DUPLICATE_PARAMETER' });
  });

  it('also after a cached success of the same token', async () => {
    const token = await issue();
    expect((await post(token, 'user_id=PAE', 'application/x-www-form-urlencoded')).status).toBe(200);
    expect((await post(token, 'user_id=NNN', 'application/x-www-form-urlencoded')).status).toBe(403);
  });
});

describe('oauth user_id in the query: every spelling an upstream reads', () => {
  it.each(['user_id[]=NNN', 'user_id[0]=NNN', '[user_id]=NNN', 'user.id=NNN', 'user+id=NNN', 'x=1;user_id=NNN', 'user%5fid=NNN'])('?%s → 403', async (q) => {
    const token = await issue();
    const res = await fetch(`${gate.url}/a?${q}`, { headers: { authorization: `OAuth ${token}` } });
    expect(res.status).toBe(403);
  });
});

describe('oauth user_id in a body: what passes', () => {
  it('the user\'s own user_id, and the body reaches the upstream unchanged', async () => {
    const token = await issue();
    const body = 'user_id=PAE&layer=YYY';
    const res = await post(token, body, 'application/x-www-form-urlencoded');
    expect(res.status).toBe(200);
    expect(gate.up.received[0]!.bodyBytes).toBe(body.length);
  });

  it.each([
    ['JSON with user_id nested, not a parameter', '{"layer":{"user_id":"NNN"}}', 'application/json'],
    ['a JSON array', '[{"user_id":"NNN"}]', 'application/json'],
    ['text/csv, which no upstream reads parameters from', 'user_id=NNN', 'text/csv'],
    ['multipart without user_id', multipart([['layer', 'YYY']]).body, multipart([]).type],
  ])('%s', async (_name, body, type) => {
    const token = await issue();
    expect((await post(token, body, type)).status).toBe(200);
  });

  it('an application token may name any user_id in a body, and a large body is not read whole', async () => {
    const token = await issue({ subject: DEMO.clientId, kind: 'app', account: undefined });
    const body = `user_id=NNN&pad=${'x'.repeat(LIMIT * 4)}`;
    const res = await post(token, body, 'application/x-www-form-urlencoded');
    expect(res.status).toBe(200);
    expect(gate.up.received[0]!.bodyBytes).toBe(body.length);
  });

  it('a user token\'s large body of a type no parser reads passes', async () => {
    const token = await issue();
    const body = 'x'.repeat(LIMIT * 4);
    expect((await post(token, body, 'application/octet-stream')).status).toBe(200);
    expect(gate.up.received[0]!.bodyBytes).toBe(body.length);
  });
});

describe('oauth user_id in a body: what cannot be checked is refused', () => {
  it('a form body over authn.oauth.userIdBodyBytes → 413', async () => {
    const token = await issue();
    const res = await post(token, `pad=${'x'.repeat(LIMIT)}&user_id=NNN`, 'application/x-www-form-urlencoded');
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_BODY_TOO_LARGE' });
    expect(gate.up.received).toHaveLength(0);
  });

  it('a chunked body growing past the limit → 413', async () => {
    const token = await issue();
    const res = await postChunked(token, Array.from({ length: 8 }, () => 'x'.repeat(1024)), 'application/json');
    expect(res.status).toBe(413);
  });

  it('a compressed form body → 415', async () => {
    const token = await issue();
    const res = await post(token, gzipSync('user_id=NNN'), 'application/x-www-form-urlencoded', { 'content-encoding': 'gzip' });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_BAD_REQUEST' });
  });

  it.each([
    ['JSON that does not parse', '{"user_id":', 'application/json'],
    ['multipart without a boundary', 'x', 'multipart/form-data'],
    ['multipart without its closing delimiter', '--b\r\ncontent-disposition: form-data; name="user_id"\r\n\r\nNNN', 'multipart/form-data; boundary=b'],
  ])('%s → 400', async (_name, body, type) => {
    const token = await issue();
    const res = await post(token, body, type);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'TG_ERR_BAD_REQUEST' });
    expect(gate.up.received).toHaveLength(0);
  });
});
