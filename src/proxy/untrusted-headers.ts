/**
 * Client headers that upstreams commonly take as a verdict of a proxy in front of them (who the user is, the
 * client's address, the original URL), so a client must never be able to send them through trackgate. They are
 * stripped under every spelling that normalises to the name (case, `_` or `.` for `-`).
 *
 * The built-in list plus `proxy.stripHeaders`, minus `proxy.keepHeaders`. An entry ending in `*` is a prefix.
 * The X-Forwarded-* family and `Forwarded` are not here: trackgate replaces them, or keeps them from a trusted
 * proxy (src/proxy/trusted-proxies.ts).
 */
import { normaliseHeaderName } from './header-name.js';

export const DEFAULT_STRIPPED_HEADERS: readonly string[] = [
  // Identity set by an authenticating proxy (oauth2-proxy, Kong, Authelia, authentik, Pomerium, Apache/nginx auth
  // modules, the Kubernetes API server's front proxy, Grafana).
  'x-user', 'x-user-id', 'x-user-name', 'x-username', 'x-user-email', 'x-auth-user', 'x-auth-userid',
  'x-remote-user', 'x-remote-group', 'x-remote-extra-*', 'remote-user', 'remote-groups', 'remote-name', 'remote-email',
  'x-forwarded-user', 'x-forwarded-email', 'x-forwarded-groups', 'x-forwarded-preferred-username',
  'x-forwarded-access-token', 'x-authenticated-user', 'x-authenticated-userid', 'x-authenticated-groups',
  'x-authenticated-scope', 'x-auth-request-*', 'x-credential-*', 'x-consumer-*', 'x-anonymous-consumer', 'x-userinfo',
  'x-authentik-*', 'x-pomerium-*', 'x-webauth-*', 'x-jwt-assertion',
  // Cloud load balancers' identity headers (AWS ALB, Google IAP, Azure App Service, Cloudflare Access).
  'x-amzn-oidc-*', 'x-goog-authenticated-user-*', 'x-goog-iap-jwt-assertion', 'x-ms-client-principal*', 'x-ms-token-*',
  'cf-access-*',
  // The client's address as a proxy saw it.
  'x-real-ip', 'x-client-ip', 'true-client-ip', 'cf-connecting-ip', 'cf-connecting-ipv6', 'fastly-client-ip',
  'x-cluster-client-ip', 'x-original-forwarded-for', 'x-forwarded', 'forwarded-for', 'x-forwarded-port',
  'x-forwarded-prefix', 'x-forwarded-server', 'x-forwarded-ssl', 'x-forwarded-scheme', 'x-forwarded-protocol',
  'x-url-scheme', 'front-end-https', 'x-original-host', 'x-host',
  // The URL a front proxy received, which some frameworks route on instead of the request target.
  'x-original-url', 'x-rewrite-url', 'x-original-uri', 'x-forwarded-uri', 'x-forwarded-path',
  // A TLS client certificate a terminating proxy verified (Envoy, nginx, Azure).
  'x-forwarded-client-cert', 'x-client-cert', 'x-client-cert-*', 'x-ssl-client-*', 'ssl-client-*', 'x-arr-clientcert',
  'x-client-verify', 'x-client-dn',
];

/** The X-Forwarded-* headers a trusted proxy may send on (the rest of the family is in the default list). */
export const TRUSTED_FORWARDING_HEADERS: ReadonlySet<string> = new Set(['x-forwarded-port', 'x-forwarded-prefix', 'x-forwarded-server']);

/** A header-name pattern as configured: lower-cased, `_`/`.` read as `-`. */
function normalisePattern(p: string): string {
  return normaliseHeaderName(p.toLowerCase());
}

/** Whether `pattern` (a name, or a prefix ending in `*`) covers the normalised `name`. */
function covers(pattern: string, name: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

/** The keepHeaders entries that do not match a built-in stripped header (a config error). */
export function unknownKeepHeaders(keep: readonly string[]): string[] {
  const defaults = DEFAULT_STRIPPED_HEADERS;
  return keep.filter((k) => {
    const n = normalisePattern(k);
    return !defaults.some((d) => d === n || (!n.endsWith('*') && covers(d, n)));
  });
}

/** The stripped set in force: exact names in a Set, prefixes in one anchored alternation. */
export class UntrustedHeaders {
  readonly #names = new Set<string>();
  readonly #prefixes: RegExp | undefined;
  readonly #keep: readonly string[];

  constructor(extra: readonly string[], keep: readonly string[]) {
    this.#keep = keep.map(normalisePattern);
    const prefixes: string[] = [];
    for (const p of [...DEFAULT_STRIPPED_HEADERS, ...extra.map(normalisePattern)]) {
      if (p.endsWith('*')) prefixes.push(p.slice(0, -1).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      else this.#names.add(p);
    }
    this.#prefixes = prefixes.length === 0 ? undefined : new RegExp(`^(?:${prefixes.join('|')})`);
  }

  /** Whether a header whose normalised, lower-cased name is `name` is stripped. */
  has(name: string): boolean {
    const hit = this.#names.has(name) || this.#prefixes?.test(name) === true;
    return hit && (this.#keep.length === 0 || !this.#keep.some((k) => covers(k, name)));
  }
}
