/**
 * Fills the @@NAME@@ placeholders of trackgate-auth.conf (this folder) and nothing else: the e2e test
 * (test/helpers/nginx-edge.ts) and the bench (bench/lib/edge.js) both run the file through this, so they run
 * what the repo ships.
 */
import { readFileSync } from 'node:fs';

export const NGINX_EDGE_CONF = new URL('./trackgate-auth.conf', import.meta.url).pathname;

/** The config with every placeholder replaced by `values[NAME]`; throws if one outside a comment is left. */
export function renderNginxEdgeConf(values) {
  let text = readFileSync(NGINX_EDGE_CONF, 'utf8');
  for (const [k, v] of Object.entries(values)) text = text.replaceAll(`@@${k}@@`, v);
  const left = /@@[A-Z_]+@@/.exec(text.replace(/^\s*#.*$/gm, ''));
  if (left !== null) throw new Error(`nginx config: placeholder ${left[0]} not filled`);
  return text;
}
