/**
 * A real upstream on 127.0.0.1 that records what it receives (method, url, headers, body digest) and answers
 * with a small JSON body, or whatever a test's `respond` hook does.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  httpVersion: string;
  bodyBytes: number;
  bodySha256: string;
}

export interface RecordingUpstream {
  url: string;
  port: number;
  server: Server;
  received: Recorded[];
  /** Replace to customise responses; receives the request after its body was read. */
  respond: (req: IncomingMessage, res: ServerResponse, rec: Recorded) => void;
  close(): Promise<void>;
}

export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const received: Recorded[] = [];
  const up: RecordingUpstream = {
    url: '', port: 0, server: undefined as unknown as Server, received,
    respond: (_req, res, rec) => {
      const body = JSON.stringify({ ok: true, url: rec.url, bytes: rec.bodyBytes });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    },
    close: async () => {
      up.server.closeAllConnections();
      await new Promise<void>((r) => up.server.close(() => r()));
    },
  };
  up.server = createServer((req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => { bytes += c.length; hash.update(c); });
    req.on('end', () => {
      const rec: Recorded = {
        method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders,
        httpVersion: req.httpVersion, bodyBytes: bytes, bodySha256: hash.digest('hex'),
      };
      received.push(rec);
      up.respond(req, res, rec);
    });
  });
  await new Promise<void>((r) => up.server.listen(0, '127.0.0.1', () => r()));
  up.port = (up.server.address() as AddressInfo).port;
  up.url = `http://127.0.0.1:${up.port}`;
  return up;
}
