/**
 * The benchmark's upstream: a small node:http JSON service. Run as its own process (so it can be pinned):
 *
 *   node bench/upstream.js [port]      prints {"port":N} on stdout once listening
 *
 * Routes: `/big/64k` (65,536 bytes), `/big/1m` (1,048,576 bytes), anything else: a ~300-byte JSON document
 * that says whether the request carried a signed identity header (and never echoes a credential).
 */
import { createServer } from 'node:http';

const IDENTITY_HEADER = 'x-identity-assertion';
const small = (withIdentity) => Buffer.from(JSON.stringify({
  service: 'gps-data', ok: true, identity: withIdentity,
  positions: [
    { device: 'bench-device', lat: 52.520008, lon: 13.404954, speed: 12.5, heading: 270, at: '2024-01-01T00:00:00.000Z' },
    { device: 'bench-device', lat: 52.520112, lon: 13.404101, speed: 11.9, heading: 268, at: '2024-01-01T00:00:05.000Z' },
  ],
  pad: 'x'.repeat(40),
}));
const SMALL_ID = small(true);
const SMALL_NO_ID = small(false);
const big = (n) => {
  const b = Buffer.alloc(n, 0x61);
  b.write('{"blob":"', 0);
  b.write('"}', n - 2);
  return b;
};
const BIG = { '/big/64k': big(64 * 1024), '/big/1m': big(1024 * 1024) };

const server = createServer({ keepAliveTimeout: 120_000, requestTimeout: 0 }, (req, res) => {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const body = BIG[path] ?? (req.headers[IDENTITY_HEADER] !== undefined ? SMALL_ID : SMALL_NO_ID);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port, smallBytes: SMALL_ID.length })}\n`);
});
process.on('SIGTERM', () => { server.close(); process.exit(0); });
