/**
 * Client connection handling: an HTTP/1.0 client without Host is served and the connection closed;
 * HTTP/1.1 keep-alive carries several requests (sequential and pipelined) on one socket; `Connection: close`
 * closes after the response.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { portOf, RawConnection, rawRequest } from '../helpers/raw-http.js';
import { waitFor } from '../helpers/wait.js';

const AUTH = basicAuth(DEMO.user, DEMO.password);
let port: number;

const gate = useGate();
beforeAll(async () => {
  port = portOf(gate.url);
});
beforeEach(() => { gate.up.received.length = 0; });

describe('HTTP/1.0', () => {
  it('serves a client without Host and closes the connection', async () => {
    const r = await rawRequest(port, `GET /x HTTP/1.0\r\nAuthorization: ${AUTH}\r\n\r\n`, { waitClose: true });
    expect(r.closed).toBe(true);
    expect(r.error).toBeUndefined();
    expect(r.responses).toHaveLength(1);
    expect(r.responses[0]!.status).toBe(200);
    expect(JSON.parse(r.responses[0]!.body.toString())).toMatchObject({ ok: true, url: '/x' });
    expect(r.responses[0]!.headers.connection).toBe('close');
    const rec = gate.up.received[0]!;
    expect(rec.url).toBe('/x');
    expect(rec.headers['x-identity-assertion']).toBeDefined();
    expect(rec.headers.authorization).toBeUndefined();
    expect(rec.headers.host).toBe(`127.0.0.1:${gate.up.port}`);
    expect(rec.headers['x-forwarded-host']).toBeUndefined();
  });

  it('relays an upstream body without Content-Length to an HTTP/1.0 client (body until close)', async () => {
    const original = gate.up.respond;
    gate.up.respond = (_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.write('part1-'); setTimeout(() => res.end('part2'), 20); };
    try {
      const r = await rawRequest(port, `GET /stream HTTP/1.0\r\nAuthorization: ${AUTH}\r\n\r\n`, { waitClose: true });
      expect(r.closed).toBe(true);
      expect(r.responses[0]!.status).toBe(200);
      expect(r.responses[0]!.headers['transfer-encoding']).toBeUndefined();
      expect(r.responses[0]!.body.toString()).toBe('part1-part2');
    } finally {
      gate.up.respond = original;
    }
  });

  it('answers 401 to an HTTP/1.0 client without credentials, and closes', async () => {
    const r = await rawRequest(port, 'GET /x HTTP/1.0\r\n\r\n', { waitClose: true });
    expect(r.closed).toBe(true);
    expect(r.responses[0]!.status).toBe(401);
    expect(JSON.parse(r.responses[0]!.body.toString())).toEqual({ error: 'TG_ERR_NO_CREDENTIALS', message: 'authentication required' });
    expect(gate.up.received).toHaveLength(0);
  });
});

describe('HTTP/1.1 keep-alive', () => {
  it('serves several sequential requests on one socket, mixing outcomes', async () => {
    const conn = await RawConnection.open(port);
    try {
      const steps: [string, number][] = [
        [`GET /a HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\n`, 200],
        ['GET /b HTTP/1.1\r\nHost: x\r\n\r\n', 401],
        [`POST /c HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nContent-Length: 5\r\n\r\nhello`, 200],
        [`GET /d HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\n`, 200],
      ];
      for (const [req, status] of steps) {
        conn.write(req);
        const [res] = await conn.next();
        expect(res!.status).toBe(status);
        expect(res!.headers.connection).not.toBe('close');
      }
      expect(conn.closed).toBe(false);
      expect(gate.up.received.map((r) => [r.method, r.url, r.bodyBytes])).toEqual([['GET', '/a', 0], ['POST', '/c', 5], ['GET', '/d', 0]]);
      // Each request was authenticated on its own: every forwarded one carries the identity header.
      for (const r of gate.up.received) expect(r.headers['x-identity-assertion']).toBeDefined();
    } finally {
      conn.close();
    }
  });

  it('answers pipelined requests in order', async () => {
    const conn = await RawConnection.open(port);
    try {
      conn.write(['/p1', '/p2', '/p3'].map((p) => `GET ${p} HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\n`).join(''));
      const res = await conn.next(3);
      expect(res.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(res.map((r) => (JSON.parse(r.body.toString()) as { url: string }).url)).toEqual(['/p1', '/p2', '/p3']);
    } finally {
      conn.close();
    }
  });

  it('closes after a response to Connection: close', async () => {
    const conn = await RawConnection.open(port);
    try {
      conn.write(`GET /a HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\nConnection: close\r\n\r\n`);
      const [res] = await conn.next();
      expect(res!.status).toBe(200);
      expect(res!.headers.connection).toBe('close');
      expect(await waitFor(() => conn.closed, 1000)).toBe(true);
    } finally {
      conn.close();
    }
  });

  it('keeps the connection usable after the upstream answered with an error status', async () => {
    const original = gate.up.respond;
    gate.up.respond = (_req, res) => { res.writeHead(500, { 'content-type': 'text/plain', 'content-length': '4' }); res.end('oops'); };
    const conn = await RawConnection.open(port);
    try {
      conn.write(`GET /e HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\n`);
      const [first] = await conn.next();
      expect(first!.status).toBe(500);
      expect(first!.body.toString()).toBe('oops');
      gate.up.respond = original;
      conn.write(`GET /f HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\n`);
      const [second] = await conn.next();
      expect(second!.status).toBe(200);
    } finally {
      gate.up.respond = original;
      conn.close();
    }
  });

  it('keeps framing right after bodiless responses (HEAD, 204, 304) on a reused socket', async () => {
    const original = gate.up.respond;
    gate.up.respond = (req, res) => {
      if (req.url === '/204') { res.writeHead(204, { 'x-kind': 'no-content' }); res.end(); return; }
      if (req.url === '/304') { res.writeHead(304, { etag: '"v1"' }); res.end(); return; }
      original(req, res, gate.up.received.at(-1)!);
    };
    const conn = await RawConnection.open(port);
    try {
      const req = (method: string, path: string) => `${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ${AUTH}\r\n\r\n`;
      conn.send(req('HEAD', '/h'), { bodiless: true });
      const [head] = await conn.next();
      expect(head!.status).toBe(200);
      // The upstream's Content-Length is relayed, but no body follows it.
      expect(head!.headers['content-length']).toBe('32');
      for (const p of ['/204', '/304', '/after']) conn.send(req('GET', p));
      const [r204, r304, after] = await conn.next(3);
      expect(r204!.status).toBe(204);
      expect(r204!.headers['x-kind']).toBe('no-content');
      expect(r304!.status).toBe(304);
      expect(r304!.headers.etag).toBe('"v1"');
      expect(after!.status).toBe(200);
      expect(JSON.parse(after!.body.toString())).toMatchObject({ url: '/after' });
      expect(gate.up.received.map((r) => `${r.method} ${r.url}`)).toEqual(['HEAD /h', 'GET /204', 'GET /304', 'GET /after']);
    } finally {
      gate.up.respond = original;
      conn.close();
    }
  });
});
