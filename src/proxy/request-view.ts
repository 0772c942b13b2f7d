/** The RequestView of a Node request: path split once, query and cookies parsed only when asked. */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { RequestView } from '../authn/types.js';
import { parseCookies } from './cookies.js';
import type { TrustedProxies } from './trusted-proxies.js';

/**
 * What a view reads of a request: a Node request, or the original request an edge proxy describes to the
 * decision listener (src/proxy/decision/).
 */
export interface ViewSource {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingMessage['headers'];
  readonly httpVersion: string;
  readonly socket: { readonly remoteAddress?: string | undefined; readonly encrypted?: boolean };
}

export class NodeRequestView implements RequestView {
  readonly method: string;
  readonly url: string;
  /** The path as received until {@link canonicalise}, then its canonical spelling. */
  path: string;
  /** What rules and token endpoints match on (src/authn/canonical-path.ts `pathKey`), set with the canonical path. */
  pathKey: string;
  /** The target sent upstream: the canonical path and the query as received. */
  target: string;
  readonly search: string;
  readonly headers: IncomingMessage['headers'];
  readonly httpVersion: string;
  readonly secure: boolean;
  /** The client's address: the socket peer's, or behind a trusted proxy the one it forwarded. */
  readonly remoteAddress: string;
  /** The socket peer's address. */
  readonly peerAddress: string;
  /** Whether the peer is a trusted proxy (`proxy.trustedProxies`). */
  readonly viaTrustedProxy: boolean;
  #query: URLSearchParams | undefined;
  #cookies: Map<string, string> | undefined;

  constructor(req: ViewSource, proxies: TrustedProxies) {
    this.method = req.method ?? 'GET';
    this.url = req.url ?? '/';
    const q = this.url.indexOf('?');
    this.path = q < 0 ? this.url : this.url.slice(0, q);
    this.pathKey = this.path;
    this.target = this.url;
    this.search = q < 0 ? '' : this.url.slice(q + 1);
    this.headers = req.headers;
    this.httpVersion = req.httpVersion;
    const peer = req.socket.remoteAddress ?? '';
    this.peerAddress = peer;
    this.viaTrustedProxy = proxies.trusts(peer);
    this.remoteAddress = this.viaTrustedProxy ? proxies.clientAddress(peer, req.headers['x-forwarded-for'] as string | undefined) : peer;
    this.secure = (req.socket as TLSSocket).encrypted === true
      || ((this.viaTrustedProxy || proxies.trustForwardedProto) && req.headers['x-forwarded-proto'] === 'https');
  }

  /** Records the guard's canonical path and its key (the path usually comes back unchanged). */
  canonicalise(path: string, key: string): void {
    this.pathKey = key;
    if (path === this.path) return;
    this.target = path + this.url.slice(this.path.length);
    this.path = path;
  }

  query(name: string): string | undefined {
    if (this.search === '') return undefined;
    // Most requests carry a query without credentials (`?device=…`): a parameter called `name` needs the
    // name itself or a percent-escape in the query, so parsing it can be skipped.
    if (this.#query === undefined && !this.search.includes(name) && !this.search.includes('%')) return undefined;
    this.#query ??= new URLSearchParams(this.search);
    return this.#query.get(name) ?? undefined;
  }

  cookie(name: string): string | undefined {
    const header = this.headers.cookie;
    if (header === undefined) return undefined;
    this.#cookies ??= parseCookies(header);
    return this.#cookies.get(name);
  }
}
