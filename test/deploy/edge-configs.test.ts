/**
 * The edge configs in deploy/edge/ against trackgate's side of each contract. ingress-nginx, Traefik and Envoy
 * cannot run here: each file is parsed, its key fields checked against the paths and headers trackgate uses
 * (the credential headers of the running runtime), and trackgate's answers to requests shaped as that edge sends
 * them are applied the way the edge documents (copy or clear by name, Traefik's regex, Envoy's removal list),
 * to check what the upstream would receive. The nginx config runs for real in test/e2e/decision-nginx.test.ts.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { useGate } from '../helpers/gate.js';
import { basicAuth, DEMO } from '../helpers/trackgate.js';
import { verifyAssertion } from '../helpers/identity-assertion.js';
import type { Reply } from '../helpers/digest-client.js';
import { send } from '../helpers/digest-client.js';
import { issueSessionToken } from '../helpers/session-tokens.js';
import { asEnvoy, asIngressNginx, asTraefik, DECISION_CONFIG, decisionUrl, type Original } from '../proxy/decision/decision-helpers.js';

const gate = useGate({ config: DECISION_CONFIG });
const file = (p: string): string => readFileSync(new URL(`../../deploy/edge/${p}`, import.meta.url), 'utf8');
const docs = (p: string): Record<string, any>[] => parseAllDocuments(file(p)).map((d) => d.toJS() as Record<string, any>);
const credentialHeaders = (): string[] => [...gate.app.runtime.headerPolicy.credentialHeaders];

const INGRESS = docs('ingress-nginx.yaml');
const TRAEFIK = docs('traefik-middleware.yaml');
const ENVOY = docs('envoy/envoy.yaml')[0]!;
const annotations = INGRESS[0]!.metadata.annotations as Record<string, string>;
const forwardAuth = TRAEFIK.find((d) => d.kind === 'Middleware')!.spec.forwardAuth as Record<string, any>;
const hcm = ENVOY.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const extAuthz = hcm.http_filters.find((f: { name: string }) => f.name === 'envoy.filters.http.ext_authz').typed_config;
const patterns = (m: { patterns: { exact: string }[] }): string[] => m.patterns.map((p) => p.exact);

/** What the upstream receives from an edge that copies `names` from the answer by name and clears those it lacks. */
function copyOrClear(client: Record<string, string>, answer: Reply, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const lower = names.map((n) => n.toLowerCase());
  for (const [k, v] of Object.entries(client)) if (!lower.includes(k.toLowerCase())) out[k.toLowerCase()] = v;
  for (const n of lower) { const v = answer.headers[n]; if (typeof v === 'string' && v !== '') out[n] = v; }
  return out;
}

/** Traefik: request headers matching the regex are stripped, then the answer's matching headers set. */
function traefikUpstream(client: Record<string, string>, answer: Reply): Record<string, string> {
  const re = new RegExp((forwardAuth.authResponseHeadersRegex as string).replace('(?i)', ''), 'i');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(client)) if (!re.test(k)) out[k.toLowerCase()] = v;
  for (const [k, v] of Object.entries(answer.headers)) if (re.test(k) && typeof v === 'string') out[k] = v;
  return out;
}

/** Envoy: x-envoy-auth-headers-to-remove removed, allowed_upstream_headers set from the answer. */
function envoyUpstream(client: Record<string, string>, answer: Reply): Record<string, string> {
  const remove = String(answer.headers['x-envoy-auth-headers-to-remove'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(client)) if (!remove.includes(k.toLowerCase())) out[k.toLowerCase()] = v;
  for (const n of patterns(extAuthz.http_service.authorization_response.allowed_upstream_headers)) {
    const v = answer.headers[n];
    if (typeof v === 'string') out[n] = v;
  }
  return out;
}

/** Envoy sends only the allowed headers (and Host, Method, Path, Content-Length, Authorization) to the service. */
function envoyFiltered(headers: Record<string, string>): Record<string, string> {
  const allowed = new Set([...patterns(extAuthz.http_service.authorization_request.allowed_headers), 'authorization', 'host', 'content-length']);
  return Object.fromEntries(Object.entries(headers).filter(([k]) => allowed.has(k.toLowerCase())));
}

const EDGES = [
  { name: 'ingress-nginx', ask: asIngressNginx, upstream: (c: Record<string, string>, a: Reply) => copyOrClear(c, a, annotations['nginx.ingress.kubernetes.io/auth-response-headers']!.split(',').map((s) => s.trim())) },
  { name: 'traefik', ask: asTraefik, upstream: traefikUpstream },
  { name: 'envoy', ask: (base: string, o: Original) => asEnvoy(base, { ...o, headers: envoyFiltered(o.headers ?? {}) }), upstream: envoyUpstream },
] as const;

describe('edge config files: the fields trackgate depends on', () => {
  it('ingress-nginx: auth-url names /ingress-nginx; every credential header is copied-or-cleared and in the cache key', () => {
    expect(new URL(annotations['nginx.ingress.kubernetes.io/auth-url']!).pathname).toBe('/ingress-nginx');
    const copied = annotations['nginx.ingress.kubernetes.io/auth-response-headers']!.split(',').map((s) => s.trim().toLowerCase());
    expect(copied).toEqual(expect.arrayContaining(['x-identity-assertion', 'cookie', ...credentialHeaders()]));
    const key = annotations['nginx.ingress.kubernetes.io/auth-cache-key']!;
    for (const h of credentialHeaders().filter((x) => x !== 'proxy-authorization')) expect(key).toContain(`$http_${h.replace(/-/g, '_')}`);
    expect(key).toContain('$request_uri');
    expect(key).toContain('$http_cookie');
    expect(annotations['nginx.ingress.kubernetes.io/auth-cache-duration']).toMatch(/^200 \d+s$/);
  });

  it('Traefik: address names /traefik, forwarded headers not trusted, the regex covers every credential header', () => {
    expect(new URL(forwardAuth.address as string).pathname).toBe('/traefik');
    expect(forwardAuth.trustForwardHeader).toBe(false);
    const re = new RegExp((forwardAuth.authResponseHeadersRegex as string).replace('(?i)', ''), 'i');
    for (const h of [...credentialHeaders(), 'x-identity-assertion', 'cookie', 'X_Token', 'X.Identity.Assertion']) expect(re.test(h), h).toBe(true);
    expect(re.test('accept')).toBe(false);
  });

  it('Envoy: path_prefix /envoy, every credential carrier sent, identity and Cookie set upstream, token endpoints undecided', () => {
    expect(extAuthz.http_service.path_prefix).toBe('/envoy');
    expect(extAuthz.failure_mode_allow).toBe(false);
    expect(patterns(extAuthz.http_service.authorization_request.allowed_headers)).toEqual(expect.arrayContaining([...credentialHeaders(), 'cookie', 'x-identity-assertion']));
    expect(patterns(extAuthz.http_service.authorization_response.allowed_upstream_headers).sort()).toEqual(['cookie', 'x-identity-assertion']);
    expect(patterns(extAuthz.http_service.authorization_response.allowed_client_headers)).toEqual(expect.arrayContaining(['www-authenticate', 'retry-after']));
    expect(hcm.common_http_protocol_options.headers_with_underscores_action).toBe('REJECT_REQUEST');
    const tokenRoute = hcm.route_config.virtual_hosts[0].routes[0];
    expect(new RegExp(tokenRoute.match.safe_regex.regex).test('/rest/v2/token')).toBe(true);
    expect(tokenRoute.typed_per_filter_config['envoy.filters.http.ext_authz'].disabled).toBe(true);
  });

  it('nginx: the cache key and the cleared headers cover every credential header', () => {
    const conf = file('nginx/trackgate-auth.conf');
    const key = /proxy_cache_key "([^"]+)"/.exec(conf)![1]!;
    for (const h of credentialHeaders().filter((x) => x !== 'proxy-authorization')) expect(key).toContain(`$http_${h.replace(/-/g, '_')}`);
    for (const h of credentialHeaders()) expect(conf.toLowerCase()).toContain(`proxy_set_header ${h} "";`);
    expect(conf).toContain('proxy_pass http://trackgate_decision/nginx;');
  });
});

describe.each(EDGES)('$name contract: trackgate\'s answers, applied as the edge does', ({ name, ask, upstream }) => {
  it('Basic: allowed; the upstream would get a valid identity header and no credential', async () => {
    const client = { authorization: basicAuth(DEMO.user, DEMO.password), accept: 'application/json' };
    const r = await ask(decisionUrl(gate), { uri: '/api/positions?device=7', headers: client });
    expect(r.status, r.body).toBe(200);
    const up = upstream(client, r);
    expect(up.authorization).toBeUndefined();
    expect(up.accept).toBe('application/json');
    expect((await verifyAssertion(gate.adminUrl, up['x-identity-assertion']!)).payload.sub).toBe(DEMO.user);
    const line = gate.logRecords().filter((l) => l.msg === 'decision').at(-1)!;
    expect(line).toMatchObject({ edge: name, path: '/api/positions?device=7', ip: '203.0.113.7' });
  });

  it('token cookie: the upstream would get the other cookies only; a forged identity header is replaced', async () => {
    const t = await issueSessionToken(gate);
    const client = { cookie: `theme=dark; token=${t}`, 'x-identity-assertion': 'forged' };
    const r = await ask(decisionUrl(gate), { uri: '/api/c', headers: client });
    expect(r.status, r.body).toBe(200);
    const up = upstream(client, r);
    expect(up.cookie).toBe('theme=dark');
    expect(up['x-identity-assertion']).not.toBe('forged');
    expect(JSON.stringify(up)).not.toContain(t);
  });

  it('401 carries every challenge; a credential in the query is refused (this edge forwards the URI as sent)', async () => {
    const viaProxy = await send(gate.url, { path: '/x' });
    const r = await ask(decisionUrl(gate), { uri: '/x' });
    expect(r.status).toBe(401);
    expect(r.distinct['www-authenticate']).toHaveLength(viaProxy.distinct['www-authenticate']!.length);
    const t = await issueSessionToken(gate);
    const q = await ask(decisionUrl(gate), { uri: `/x?_token=${t}` });
    expect(q.status).toBe(400);
    expect(JSON.parse(q.body).error).toBe('TG_ERR_QUERY_CREDENTIAL');
  });
});
