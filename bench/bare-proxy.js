/**
 * The platform floor: the smallest correct proxy on trackgate's stack (node:http server + one undici Pool,
 * `Pool.stream` into the ServerResponse, hop-by-hop headers dropped), with no authentication, no metrics,
 * no logging. What trackgate costs above this row is trackgate's own work.
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
  pool.stream({ path: req.url, method: req.method, headers, body: null }, ({ statusCode, headers: h }) => {
    const out = {};
    for (const k in h) if (!HOP.has(k)) out[k] = h[k];
    res.writeHead(statusCode, out);
    return res;
  }).catch(() => { if (!res.headersSent) { res.statusCode = 502; res.end(); } else res.destroy(); });
}).listen(Number(port), '127.0.0.1');
