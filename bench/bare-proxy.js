/**
 * The platform floor: the smallest correct proxy on trackgate's stack (node:http server + one undici Pool,
 * a `Pool.dispatch` handler writing into the ServerResponse with back-pressure, hop-by-hop headers dropped, the
 * upstream request aborted when the client leaves),
 * with no authentication, no metrics, no logging. What trackgate costs above this row is trackgate's own work.
 *
 *   node bench/bare-proxy.js <port> <upstream-url>
 */
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, upstream] = process.argv.slice(2);
const pool = new Pool(upstream, { connections: 128, pipelining: 1, keepAliveTimeout: 4000 });
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const headers = {};
  for (const k in req.headers) if (!HOP.has(k)) headers[k] = req.headers[k];
  // A client that leaves mid-response (wrk stops a run with responses in flight) must release the upstream
  // request: left paused, waiting for a 'drain' that never comes, it would hold a pool connection for good.
  let controller;
  res.once('close', () => { if (!res.writableFinished) controller?.abort(new Error('client closed')); });
  pool.dispatch({ path: req.url, method: req.method, headers, body: null }, {
    onRequestStart(c) { controller = c; },
    onResponseStart(_c, statusCode, h) {
      if (statusCode < 200) return;
      const out = {};
      for (const k in h) if (!HOP.has(k)) out[k] = h[k];
      res.writeHead(statusCode, out);
    },
    onResponseData(c, chunk) {
      if (!res.write(chunk)) { c.pause(); res.once('drain', () => c.resume()); }
    },
    onResponseEnd() { res.end(); },
    onResponseError() { if (!res.headersSent) { res.statusCode = 502; res.end(); } else res.destroy(); },
  });
}).listen(Number(port), '127.0.0.1');

// A normal exit on SIGTERM/SIGINT, so `node --cpu-prof bench/bare-proxy.js` writes its profile.
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
