/**
 * The decision listener's request path (forward-auth mode): an edge proxy describes a client's request, and
 * trackgate answers whether it may pass, running what the proxy port runs for it (the guard and canonical
 * path, method-override refusals, route rules, every credential form, the validation cache, the throttle, the
 * identity header) on the original request instead of the decision request itself. It forwards nothing: the
 * edge does, with the headers the answer gives (allow-answer.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { TrackgateError, toTrackgateError } from '../../errors.js';
import { accessLog, type AccessLine, type AccessLog, type Logger } from '../../observability/log.js';
import type { Metrics } from '../../observability/metrics.js';
import type { IdentityMinter } from '../../identity/minter.js';
import type { AuthFailureContext, AuthResult } from '../../authn/pipeline.js';
import type { Admission, ProxyHandler } from '../handler.js';
import { NodeRequestView } from '../request-view.js';
import { TrustedProxies } from '../trusted-proxies.js';
import { scrubQuery } from '../query.js';
import { sendError } from '../respond.js';
import { addAccessOutcome } from '../access-outcome.js';
import type { Runtime } from '../runtime.js';
import { readEdgeRequest, type Edge } from './edge-request.js';
import { actsForBodyCheck } from '../acts-for-body.js';
import { allowHeaders, decisionCacheControl } from './allow-answer.js';

export interface DecisionDeps {
  runtime(): Runtime;
  /** The proxy port's handler, whose guard and admission the decision runs. */
  proxy: ProxyHandler;
  minter: IdentityMinter;
  metrics: Metrics;
  logger: Logger;
  now(): number;
}

/** The view's client address is already the edge's client: nothing in its headers is believed again. */
const NO_PROXIES = new TrustedProxies([], false);
/**
 * No edge says whether the original request has a body, so a POST is taken to have one: with
 * `routing.bodyMethodOverride` its `_method` field could name a method the route rules hold stricter.
 */
const BODY_UNKNOWN = { headers: { 'transfer-encoding': 'unknown' } };

interface DecisionState {
  readonly started: number;
  readonly failure: AuthFailureContext;
  edge: Edge | undefined;
  view: NodeRequestView | undefined;
  admission: Admission | undefined;
}

export class DecisionHandler {
  readonly #access: AccessLog;
  /** `decision.allowFrom` as a BlockList, rebuilt when a reload changes the list. */
  #allow: { list: readonly string[]; block: BlockList } | undefined;

  constructor(private readonly deps: DecisionDeps) {
    this.#access = accessLog(deps.logger);
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const rt = this.deps.runtime();
    const st: DecisionState = { started: performance.now(), failure: { scheme: undefined, fingerprint: undefined }, edge: undefined, view: undefined, admission: undefined };
    try {
      const admission = this.#decide(rt, req, st);
      if (admission instanceof Promise) {
        admission.then((a) => this.#allowAndFinish(rt, req, res, st, a), (err: unknown) => this.#finish(rt, res, st, err));
      } else {
        this.#allowAndFinish(rt, req, res, st, admission);
      }
    } catch (err) {
      this.#finish(rt, res, st, err);
    }
  };

  #decide(rt: Runtime, req: IncomingMessage, st: DecisionState): Admission | Promise<Admission> {
    const peer = req.socket.remoteAddress ?? '';
    if (!this.#allowed(rt.config.decision.allowFrom, peer)) {
      throw new TrackgateError('TG_ERR_DECISION_PEER', 'forbidden', { detail: 'decision request from a peer outside decision.allowFrom' });
    }
    const edge = readEdgeRequest(req);
    st.edge = edge.edge;
    const headers = edge.host === undefined ? req.headers : { ...req.headers, host: edge.host };
    const view = new NodeRequestView({
      method: edge.method, url: edge.target, headers, httpVersion: req.httpVersion,
      socket: { remoteAddress: rt.trustedProxies.clientAddress(peer, edge.forwardedFor), encrypted: edge.proto === 'https' },
    }, NO_PROXIES);
    st.view = view;
    // The decision request's own head (repeated credential headers, framing) and the original path.
    this.deps.proxy.guard(rt, req, view);
    if (rt.issue.match(view.method, view.pathKey) !== undefined) {
      throw new TrackgateError('TG_ERR_TOKEN_ENDPOINT_PATH', 'this path is a trackgate token endpoint: route it to trackgate', { detail: `token endpoint ${view.path} sent for a decision` });
    }
    if (!edge.rewritesUri && scrubQuery(view.target, rt.credentialQuery) !== view.target) {
      throw new TrackgateError('TG_ERR_QUERY_CREDENTIAL', 'credentials in the URL are not accepted here; send them in a header', { detail: `${edge.edge} forwards the client's URI unchanged` });
    }
    return this.deps.proxy.admit(rt, BODY_UNKNOWN, view, st.failure);
  }

  #allowed(list: readonly string[], peer: string): boolean {
    if (this.#allow?.list !== list) {
      const block = new BlockList();
      for (const entry of list) {
        const [addr, bits] = entry.split('/') as [string, string | undefined];
        const type = isIP(addr) === 4 ? 'ipv4' : 'ipv6';
        if (bits === undefined) block.addAddress(addr, type); else block.addSubnet(addr, Number(bits), type);
      }
      this.#allow = { list, block };
    }
    // A v4 peer on a dual-stack socket arrives as `::ffff:a.b.c.d`.
    const address = peer.startsWith('::ffff:') && isIP(peer.slice(7)) === 4 ? peer.slice(7) : peer;
    const family = isIP(address);
    return family !== 0 && this.#allow.block.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  #allowAndFinish(rt: Runtime, req: IncomingMessage, res: ServerResponse, st: DecisionState, admission: Admission): void {
    try {
      st.admission = admission;
      const view = st.view!;
      let identity: string | undefined;
      let refreshAt: number | undefined;
      if (admission.identity !== undefined) {
        refuseUncheckableBody(rt, req, view, admission as AuthResult);
        const minted = this.deps.minter.mintEntry(admission.identity, view.method, view.path);
        identity = minted.value;
        refreshAt = minted.refreshAt;
      }
      const cacheControl = decisionCacheControl({
        nowMs: this.deps.now(), boundSeconds: rt.config.decision.maxAgeSeconds,
        credentialExpiresAt: admission.identity?.expiresAt, headerRefreshAt: refreshAt,
        everyRequest: (admission.identity !== undefined && (admission as AuthResult).cache === 'bypass') || rt.config.identity.bindToRequest,
      });
      const headers = allowHeaders({ headers: req.headers, policy: rt.headerPolicy, credentialQuery: rt.credentialQuery, target: view.target, identity, cacheControl });
      // A deprecated form's Deprecation/Sunset/Link, for the edge to add to the client's response (docs/decision-mode.md).
      const notice = admission.identity !== undefined ? admission.policy?.headers : undefined;
      res.writeHead(200, { ...headers, ...notice, 'content-length': 0 });
      res.end();
      this.#finish(rt, res, st, undefined);
    } catch (err) {
      this.#finish(rt, res, st, err);
    }
  }

  /** Ends a decision: the refusal if it failed, the metric and the access line. Called once per decision. */
  #finish(rt: Runtime, res: ServerResponse, st: DecisionState, err: unknown): void {
    const e = err === undefined ? undefined : toTrackgateError(err);
    if (e !== undefined) {
      // nginx's auth_request turns every refusal but 401/403 into its own 500: the code lets its config restore it.
      if (!res.headersSent) res.setHeader('x-trackgate-error', e.code);
      if (st.edge === 'nginx' && e.status === 401 && !res.headersSent) numberChallenges(res, e.headers?.['www-authenticate']);
      sendError(res, e);
    }
    const { admission, failure, view } = st;
    const status = e?.status ?? 200;
    const scheme = admission?.identity !== undefined ? (admission as AuthResult).scheme : admission ? 'public' : (failure.scheme ?? 'none');
    this.deps.metrics.decision(st.edge ?? 'unknown', scheme, status);
    if (!rt.config.logging.access && e === undefined) return;
    const line: AccessLine = {
      method: view?.method ?? 'GET',
      path: view === undefined ? '' : scrubQuery(view.target, rt.credentialQuery),
      status,
      ms: Math.round((performance.now() - st.started) * 100) / 100,
      scheme,
      rid: undefined,
      ip: view?.remoteAddress ?? res.req.socket.remoteAddress ?? '',
      edge: st.edge ?? 'unknown',
    };
    addAccessOutcome(line, admission, failure, e);
    if (e !== undefined) {
      this.#access(e.status >= 500 ? 'error' : 'warn', line, 'decision refused');
    } else {
      this.#access('info', line, 'decision');
    }
  }
}

/** Most challenges restored through nginx (a 401 has one per enabled form, Digest one per algorithm). */
export const MAX_NUMBERED_CHALLENGES = 8;

/**
 * nginx before 1.23 passes only the first `WWW-Authenticate` of a refused auth_request on to the client; the
 * others go under numbered names (`X-Trackgate-Challenge-2`, …), which the nginx config adds back.
 */
function numberChallenges(res: ServerResponse, challenges: string | string[] | undefined): void {
  if (!Array.isArray(challenges)) return;
  for (let i = 1; i < Math.min(challenges.length, MAX_NUMBERED_CHALLENGES); i++) res.setHeader(`x-trackgate-challenge-${i + 1}`, challenges[i]!);
}

/**
 * The sidecar reads the bodies in which a restricted identity could name another principal (Geoloqi `user_id`,
 * acts-for-body.ts); the edge sends no body, so such a request cannot be checked here and is refused, never
 * allowed unchecked: a POST, or any request that declares a form, JSON or multipart type (the edge does not say
 * whether a body follows). Its client can use the sidecar path, or send `user_id` in the query, which is checked.
 */
function refuseUncheckableBody(rt: Runtime, req: IncomingMessage, view: NodeRequestView, admission: AuthResult): void {
  const rule = rt.pipeline.actsForRule(admission.scheme);
  let check;
  try {
    // The edge's own Content-Length describes the decision request, not the client's body: judged by type alone.
    const { 'content-length': _length, ...headers } = req.headers;
    check = actsForBodyCheck(rule, admission.identity, view.method, headers);
  } catch {
    check = true;
  }
  if (check !== undefined) {
    throw new TrackgateError('TG_ERR_FORBIDDEN', `this token's request body is checked for ${rule!.param} only on the proxy port`, {
      reason: 'forbidden', detail: `decision: ${view.method} with a ${String(req.headers['content-type'] ?? 'form')} body from a restricted ${admission.identity.kind} identity cannot be checked for ${rule!.param}`,
    });
  }
}
