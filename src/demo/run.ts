/**
 * `trackgate demo` (what `npm start` runs): trackgate with config/trackgate.yaml and, unless
 * TRACKGATE_UPSTREAM points elsewhere, the bundled demo GPS service behind it. The demo service verifies
 * every identity header against trackgate's JWKS, as a real upstream would.
 */
import { loadConfig } from '../config-schema.js';
import { runServer } from '../server.js';
import { startDemoUpstream } from './upstream.js';

export async function runDemo(configFile: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const first = loadConfig(configFile, env);
  if (env.TRACKGATE_UPSTREAM !== undefined) {
    await runServer(first, { env });
    return;
  }
  const { config } = first;
  const adminListen = config.admin.listen.replace(/^0\.0\.0\.0:/, '127.0.0.1:');
  const upstream = await startDemoUpstream({
    jwksUrl: `http://${adminListen}/.well-known/jwks.json`,
    issuer: config.identity.issuer,
    audience: config.identity.audience,
    headerName: config.identity.header,
  });
  const demoEnv = { ...env, TRACKGATE_UPSTREAM: upstream.url };
  const loaded = loadConfig(configFile, demoEnv);
  // The same env for config reloads and, with `workers` > 1, for the worker processes (they load the config too).
  const app = await runServer(loaded, { env: demoEnv }, () => upstream.close());
  app.logger.info({ upstream: upstream.url }, 'demo GPS data service started behind trackgate');
  const proxy = config.listen;
  process.stdout.write(`\n  trackgate demo is up.  Try:\n`
    + `    open http://${proxy}/ in a browser                 # "Try it out": the demo account, prefilled\n`
    + `    curl -u j.random.user:j.random.password http://${proxy}/rest/v2/devices\n`
    + `    curl -i http://${proxy}/rest/v2/devices            # 401 + WWW-Authenticate\n`
    + `    curl http://${adminListen}/metrics | grep trackgate_auth\n`
    + `  In a browser: http://${proxy}/ (the data browser), http://${adminListen}/docs/ (Swagger UI),\n`
    + `    http://${adminListen}/admin/ (the operator page; demo-operator / demo-operator-password)\n\n`);
}
