/**
 * The proxy port's request path: guard → route rule → authenticate → authorise → identity header →
 * forward → access log. Every failure becomes a short JSON 4xx/5xx; nothing thrown escapes to Node.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TrackgateError, toTrackgateError } from '../errors.js';
import { accessLog, type AccessLine, type AccessLog, type Logger } from '../observability/log.js';
import type { Metrics } from '../observability/metrics.js';
import type { IdentityMinter } from '../identity/minter.js';
import type { AuthFailureContext, AuthResult } from '../authn/pipeline.js';
import { ANONYMOUS, becomesAnonymous } from '../authn/anonymous.js';
import { allows, type Access, type RouteDecision, type ShadowRule } from '../authn/rules.js';
import type { PolicyMatch, PolicyOutcome } from '../authn/form-policies.js';
import { FormDeniedError } from '../authn/form-denied.js';
import type { Identity } from '../authn/types.js';
import { NodeRequestView } from './request-view.js';
import { guardRequest } from './guard.js';
import { canonicalPath, pathKey } from '../authn/canonical-path.js';
import { refuseMethodOverride } from './method-override.js';
import { upstreamHeaders } from './headers.js';
import { scrubQuery } from './query.js';
import { BufferBudget, readBody, watchStream, type ReadyBody } from './body-buffer.js';
import { ProgressWatch, type WatchLimits } from './progress-watch.js';
import { UpstreamSlots, type ShedReason } from './upstream-slots.js';
import { sendError } from './respond.js';
import { endAfterBody } from './lingering-close.js';
import { dropIfRefused } from './refused-sockets.js';
import type { ForwardOutcome, Forwarder } from './forward.js';
import type { Runtime } from './runtime.js';
import { serveTokenEndpoint } from './token-endpoint.js';
import { applyCors } from './cors.js';
import { actsForBodyCheck, type ActsForBodyCheck } from './acts-for-body.js';
import { expectsContinue } from './expect-continue.js';
import { addAccessOutcome } from './access-outcome.js';
import type { IssueMatch } from '../issue/router.js';
import type { InventoryRecorder } from '../inventory/recorder.js';

export interface ProxyDeps {
  runtime(): Runtime;
  forwarder: Forwarder;
  minter: IdentityMinter;
  metrics: Metrics;
  logger: Logger;
  /** Where each admitted identity is noted for the inventory (in memory; written to the store off the request path). */
  inventory?: Pick<InventoryRecorder, 'note'>;
  /** Shared with the forwarder (responses a client does not read); the handler makes its own if absent. */
  watch?: ProgressWatch;
}

/**
 * The access decision for a request: no identity (public path) or an authenticated one; `anonymous`: the
 * rejection an invalid credential was forwarded as anonymous despite (`routes[].invalidCredentials`).
 */
export type Admission = { identity: undefined; local?: string; wouldDeny?: string }
  | ({ identity: AuthResult['identity']; local?: undefined; anonymous?: TrackgateError } & AuthResult & PolicyOutcome);


/** One request on the proxy port: what it arrived with and what has been established so far. */
interface RequestState {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly rt: Runtime;
  readonly view: NodeRequestView;
  /** performance.now() when the request arrived. */
  readonly started: number;
  readonly failure: AuthFailureContext;
  admission: Admission | undefined;
  requestId: string | undefined;
  /** The scrubbed request target sent upstream (reused for the access line). */
  path: string | undefined;
  /** The upstream slot this request holds (its client's key), once granted. */
  slot: string | undefined;
}

/**
 * The handler is written with callbacks, and authentication answers a cache hit synchronously: the common
 * request (a cached credential) allocates no promise and waits for no microtask between arriving and being
 * dispatched upstream. Every path ends in exactly one `#finish`.
 */
export class ProxyHandler {
  /** Requests being handled (for graceful shutdown and the inflight gauge). */
  inflight = 0;
  /** Set when shutdown starts: every response from then on closes its connection. */
  draining = false;
  /** Fair admission to the upstream pool: one slot per upstream connection (a restart changes their number). */
  readonly slots: UpstreamSlots;
  /** Watches client-paced transfers: request bodies, responses a client does not read. */
  readonly watch: ProgressWatch;
  /** Request bodies buffered in memory, bounded by `limits.bufferTotalBytes`. */
  readonly budget: BufferBudget;
  readonly #access: AccessLog;

  constructor(private readonly deps: ProxyDeps) {
    this.#access = accessLog(deps.logger);
    this.watch = deps.watch ?? new ProgressWatch();
    const rt = deps.runtime();
    this.slots = new UpstreamSlots(rt.config.upstream.connections, () => this.deps.runtime().config.limits);
    this.budget = new BufferBudget(() => this.deps.runtime().config.limits.bufferTotalBytes);
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (dropIfRefused(req.socket)) return;
    this.inflight++;
    const rt = this.deps.runtime();
    const st: RequestState = {
      req, res, rt, view: new NodeRequestView(req, rt.trustedProxies),
      started: performance.now(), failure: { scheme: undefined, fingerprint: undefined },
      admission: undefined, requestId: undefined, path: undefined, slot: undefined,
    };
    if (this.draining) res.shouldKeepAlive = false;
    try {
      this.#run(st);
    } catch (err) {
      this.#finish(st, undefined, err);
    }
  };

  /**
   * The checks before any routing (shared with WebSocket upgrades): throws a TrackgateError for a hostile
   * or ambiguous request, else gives `view` its canonical path, the one everything after it uses.
   */
  guard(rt: Runtime, req: IncomingMessage, view: NodeRequestView): void {
    guardRequest(req, view.path, rt.guard);
    refuseMethodOverride(req.headers, view);
    const caseInsensitive = rt.config.routing.caseInsensitive;
    const path = canonicalPath(view.path, caseInsensitive);
    view.canonicalise(path, pathKey(path, caseInsensitive));
  }

  /**
   * Authenticates a request that passed {@link guard} (shared with WebSocket upgrades); throws (or rejects
   * with) a TrackgateError when it may not pass. Synchronous on a validation-cache hit.
   */
  admit(rt: Runtime, req: Pick<IncomingMessage, 'headers'>, view: NodeRequestView, failure: AuthFailureContext): Admission | Promise<Admission> {
    if (view.method === 'POST' && rt.config.routing.bodyMethodOverride && hasBody(req) && rt.rules.stricterThanPost(view.pathKey)) {
      throw new TrackgateError('TG_ERR_METHOD_OVERRIDE', 'a POST with a body is ambiguous here: its _method could name a method the route rules refuse', { detail: 'POST body on a path with stricter rules for other methods' });
    }
    const rule = rt.rules.decide(view.method, view.pathKey);
    const { access } = rule;
    if (access === 'deny') throw new TrackgateError('TG_ERR_FORBIDDEN', 'forbidden', { reason: 'forbidden', detail: 'route rule: deny' });
    const shadows = rt.rules.shadows(view.method, view.pathKey);
    if (access === 'public') {
      // A report-only rule ahead of a public one would at least have asked for credentials.
      const would = shadows === undefined ? undefined : this.#reportShadows(shadows, undefined);
      return would === undefined ? { identity: undefined } : { identity: undefined, wouldDeny: would };
    }
    if (!rt.policies.empty) failure.pathKey = view.pathKey;
    const t0 = performance.now();
    let result: AuthResult | Promise<AuthResult>;
    try {
      result = rt.pipeline.authenticate(view, failure);
    } catch (err) {
      return this.#rejected(err, failure, rule);
    }
    if (result instanceof Promise) {
      return result.then((r) => this.#admitted(rt, view, access, shadows, r, t0), (err: unknown) => this.#rejected(err, failure, rule));
    }
    return this.#admitted(rt, view, access, shadows, result, t0);
  }

  /** Counts a failed attempt by its reason; throws it, or forwards it as anonymous where the rule says so. */
  #rejected(err: unknown, failure: AuthFailureContext, rule: RouteDecision): Admission {
    const e = toTrackgateError(err);
    this.deps.metrics.authAttempt(failure.scheme ?? 'none', e.reason ?? 'invalid');
    if (rule.invalidCredentials !== 'anonymous' || failure.scheme === undefined || !becomesAnonymous(e)) throw e;
    return { identity: ANONYMOUS, scheme: failure.scheme, cache: 'bypass', fingerprint: failure.fingerprint, anonymous: e };
  }

  #admitted(rt: Runtime, view: NodeRequestView, access: Access, shadows: readonly ShadowRule[] | undefined, result: AuthResult, t0: number): Admission {
    this.deps.metrics.authTime(result.scheme, result.cache, (performance.now() - t0) / 1000);
    if (!allows(access, result.identity)) {
      this.deps.metrics.authAttempt(result.scheme, 'forbidden');
      throw new TrackgateError('TG_ERR_FORBIDDEN', 'forbidden', { reason: 'forbidden', detail: 'route rule does not admit this identity' });
    }
    const policy = rt.policies.empty ? undefined : rt.policies.match(result.scheme, result.identity.account, view.pathKey);
    if (policy !== undefined) {
      this.deps.metrics.legacyRequest(result.scheme, policy.effect);
      if (policy.effect === 'deny') {
        this.deps.metrics.authAttempt(result.scheme, 'denied');
        throw this.#denied(rt, view, result, policy);
      }
    }
    this.deps.metrics.authAttempt(result.scheme, 'ok');
    const inventory = rt.config.inventory;
    if (inventory.enabled && this.deps.inventory !== undefined) {
      const ua = view.headers['user-agent'];
      this.deps.inventory.note(result.scheme, result.identity, typeof ua === 'string' ? ua : undefined, inventory.recordAddress ? view.remoteAddress : undefined);
    }
    let would = shadows === undefined ? undefined : this.#reportShadows(shadows, result.identity);
    if (policy?.effect === 'report-only') {
      this.deps.metrics.wouldDeny(policy.name);
      would = would === undefined ? policy.name : `${policy.name},${would}`;
    }
    if ((policy === undefined || policy.effect === 'allow') && would === undefined) return result;
    return { ...result, ...(policy !== undefined && policy.effect !== 'allow' ? { policy } : {}), ...(would !== undefined ? { wouldDeny: would } : {}) };
  }

  /** The 401 of a denied form: the forms still accepted here for this identity's account, and only their challenges. */
  #denied(rt: Runtime, view: NodeRequestView, result: AuthResult, policy: PolicyMatch): FormDeniedError {
    const accepted = rt.policies.accepted(result.identity.account, view.pathKey);
    const hidden = new Set(rt.pipeline.enabledForms.map((f) => f.id).filter((id) => !accepted.includes(id)));
    const challenges = rt.pipeline.challenges(view, false, undefined, hidden);
    return new FormDeniedError(result.scheme, policy.name, accepted, {
      ...policy.headers, ...(challenges.length > 0 ? { 'www-authenticate': challenges } : {}),
    });
  }

  /**
   * Counts the report-only route rules that would have refused this request (`identity` undefined: a public
   * route, where any rule needing an identity would have); their names, comma-separated, or undefined.
   */
  #reportShadows(shadows: readonly ShadowRule[], identity: Identity | undefined): string | undefined {
    let names: string | undefined;
    for (const s of shadows) {
      const refuses = s.access === 'deny' || (identity === undefined ? s.access !== 'public' : !allows(s.access, identity));
      if (!refuses) continue;
      this.deps.metrics.wouldDeny(s.name);
      names = names === undefined ? s.name : `${names},${s.name}`;
    }
    return names;
  }

  /** Upstream headers and path for an admitted request. */
  prepare(rt: Runtime, req: IncomingMessage, view: NodeRequestView, admission: Admission) {
    const { headers, requestId } = upstreamHeaders(req.headers, rt.headerPolicy, {
      remoteAddress: view.peerAddress, trustedPeer: view.viaTrustedProxy, secure: view.secure,
    });
    if (admission.identity !== undefined) {
      // `htu` is the path the upstream receives (the upstream URL's base path included), so it can compare.
      headers[rt.headerPolicy.identityHeader] = this.deps.minter.mint(admission.identity, view.method, this.deps.forwarder.basePath + view.path);
    }
    return { headers, requestId, path: scrubQuery(view.target, rt.credentialQuery) };
  }

  #run(st: RequestState): void {
    const { req, rt, view, failure } = st;
    this.guard(rt, req, view);
    if (applyCors(rt.config.routing.corsOrigins, req, st.res)) {
      st.res.writeHead(204, { 'content-length': 0 });
      st.res.end();
      this.#finish(st, 204, undefined);
      return;
    }
    const local = rt.issue.match(view.method, view.pathKey);
    if (local !== undefined) {
      this.#serveLocal(st, local).then((status) => this.#finish(st, status, undefined), (err: unknown) => this.#finish(st, undefined, err));
      return;
    }
    const admission = this.admit(rt, req, view, failure);
    if (admission instanceof Promise) {
      admission.then((a) => {
        try {
          this.#forward(st, a);
        } catch (err) {
          this.#finish(st, undefined, err);
        }
      }, (err: unknown) => this.#finish(st, undefined, err));
    } else {
      this.#forward(st, admission);
    }
  }

  async #serveLocal(st: RequestState, local: IssueMatch): Promise<number> {
    const { req, res, rt, view, failure } = st;
    const { status, error } = await serveTokenEndpoint(local, rt, req, res, view, failure);
    st.admission = { identity: undefined, local: local.dialect.id };
    this.deps.metrics.tokenEndpoint(local.dialect.id, status);
    if (error !== undefined) this.deps.logger.warn({ dialect: local.dialect.id, err: error.code, reason: error.reason, detail: error.detail, path: view.path, status }, 'token endpoint error');
    return status;
  }

  /**
   * Sends an admitted request upstream; the last thing it does is hand the request to the forwarder. A
   * request with a body first has it read (whole when small, see body-buffer.ts), so that no upstream slot
   * waits on a slow client.
   */
  #forward(st: RequestState, admission: Admission): void {
    const { req, res, rt, view } = st;
    // The client left while it was being authenticated: its 'close' has fired already, so nothing later
    // (the slot queue, the forwarder) would ever see it go; finish here, before anything is taken.
    if (res.destroyed || req.destroyed) { st.admission = admission; this.#finish(st, undefined, clientGone()); return; }
    const { headers, requestId, path } = this.prepare(rt, req, view, admission);
    st.admission = admission;
    st.requestId = requestId;
    st.path = path;
    // A credential in the URL: its response must not be stored; the forwarder merges the upstream's Cache-Control in.
    // Compared with the canonical target, so a mere re-spelling (`%7e` → `~`) is not taken for a scrubbed credential.
    if (path !== view.target) res.setHeader('cache-control', 'private, no-store');
    const notice = admission.identity !== undefined ? admission.policy?.headers : undefined;
    if (notice !== undefined) for (const name in notice) res.setHeader(name, notice[name]!);
    if (!hasBody(req)) {
      if (expectsContinue(req)) res.writeContinue();
      this.#acquire(st, headers, undefined);
      return;
    }
    // Before `100 Continue`: a body that cannot be checked is refused before the client sends it.
    const check = admission.identity === undefined ? undefined
      : actsForBodyCheck(rt.pipeline.actsForRule(admission.scheme), admission.identity, view.method, req.headers);
    if (expectsContinue(req)) res.writeContinue();
    if (check !== undefined) { this.#readChecked(st, headers, check); return; }
    const limits = rt.config.limits;
    readBody(req, { bufferBytes: limits.bufferBodyBytes, maxBytes: limits.maxRequestBodyBytes, budget: this.budget, watch: this.watch, limits: bodyLimits(limits) }, (err, body) => {
      if (err !== undefined) { this.#finish(st, undefined, err); return; }
      try {
        this.#acquire(st, headers, body);
      } catch (e) {
        this.#finish(st, undefined, e);
      }
    });
  }

  /** Reads a body whole and checks it (acts-for-body.ts) before the request takes an upstream slot. */
  #readChecked(st: RequestState, headers: Record<string, string | string[]>, check: ActsForBodyCheck): void {
    const limits = st.rt.config.limits;
    const opts = { bufferBytes: check.maxBytes, maxBytes: limits.maxRequestBodyBytes, budget: this.budget, watch: this.watch, limits: bodyLimits(limits), whole: check.tooLarge };
    readBody(st.req, opts, (err, body) => {
      // Refused part-way through: the rest of the body is drained so the client reads the answer.
      if (err !== undefined) { this.#finish(st, undefined, err, !st.req.complete); return; }
      try {
        check.check(body!.buffer!);
      } catch (e) {
        this.budget.give(body!.held);
        this.#finish(st, undefined, e);
        return;
      }
      try {
        this.#acquire(st, headers, body);
      } catch (e) {
        this.#finish(st, undefined, e);
      }
    });
  }

  /** Takes an upstream slot for the request (at once, or after waiting its turn), then dispatches it. */
  #acquire(st: RequestState, headers: Record<string, string | string[]>, body: ReadyBody | undefined): void {
    const a = st.admission!;
    // One client: its credential (fingerprint, else subject for single-use credentials), else its address (also
    // for invalid credentials forwarded as anonymous: each would be a client of its own otherwise).
    const key = a.identity !== undefined && a.anonymous === undefined ? ((a as AuthResult).fingerprint ?? a.identity.subject) : st.view.remoteAddress;
    if (this.slots.tryAcquire(key)) { st.slot = key; this.#dispatch(st, headers, body); return; }
    // Left while its body was being read: 'close' has fired, so a waiter would stay queued until its timeout.
    if (st.res.destroyed) { if (body !== undefined) this.budget.give(body.held); this.#finish(st, undefined, clientGone()); return; }
    let waiter: { cancel(): void } | undefined;
    const onClose = (): void => { waiter?.cancel(); if (body !== undefined) this.budget.give(body.held); this.#finish(st, undefined, clientGone()); };
    st.res.once('close', onClose);
    waiter = this.slots.wait(key, (shed) => {
      st.res.removeListener('close', onClose);
      if (shed !== undefined) {
        if (body !== undefined) this.budget.give(body.held);
        this.#finish(st, undefined, this.#shed(shed));
        return;
      }
      st.slot = key;
      try {
        this.#dispatch(st, headers, body);
      } catch (e) {
        this.#finish(st, undefined, e);
      }
    });
  }

  #dispatch(st: RequestState, headers: Record<string, string | string[]>, body: ReadyBody | undefined): void {
    const { req, res } = st;
    let stream: NodeJS.ReadableStream | Buffer | null = null;
    let held = 0;
    if (body !== undefined) {
      if (body.buffer !== undefined) { stream = body.buffer; held = body.held; } else {
        stream = body.stream;
        watchStream(req, body.stream, this.watch, bodyLimits(st.rt.config.limits));
      }
    }
    const done = (err: unknown, outcome?: ForwardOutcome): void => {
      if (held > 0) { this.budget.give(held); held = 0; }
      if (outcome !== undefined) {
        this.deps.metrics.upstreamTime(outcome.status, outcome.upstreamSeconds);
        this.#finish(st, outcome.status, undefined);
        return;
      }
      const { kind, status } = err as { kind?: string; status?: number };
      const upstreamFailed = kind !== undefined && status !== undefined && status >= 500;
      if (upstreamFailed) this.deps.metrics.upstreamErrors.labels(kind).inc();
      // The upstream failed while the client was still sending its body: answer, then drain before closing.
      this.#finish(st, undefined, err, upstreamFailed && stream !== null && !Buffer.isBuffer(stream));
    };
    try {
      this.deps.forwarder.forward(req, res, st.path!, headers, stream, done);
    } catch (e) {
      if (held > 0) { this.budget.give(held); held = 0; }
      throw e;
    }
  }

  /** A request refused for overload: counted, and logged by its access line (err and detail). */
  #shed(reason: ShedReason): TrackgateError {
    return new TrackgateError('TG_ERR_OVERLOADED', 'too many requests in progress; retry shortly', {
      detail: reason, headers: { 'retry-after': '1' },
    });
  }

  /**
   * Ends `res` with `end` once what is left of `req`'s body has been read and dropped, within
   * `limits.lingerTimeoutMs` / `limits.lingerMaxBytes` and the body pace (a lingering close).
   */
  endAfterBody(req: IncomingMessage, end: () => void): void {
    const l = this.deps.runtime().config.limits;
    endAfterBody(req, this.watch, { timeoutMs: l.lingerTimeoutMs, maxBytes: l.lingerMaxBytes, pace: bodyLimits(l) }, end);
  }

  /**
   * Ends a request: the error response if it failed, metrics and the access line. Called once per request.
   * `linger`: the request body may still be arriving; the error response then closes the connection only
   * after draining it.
   */
  #finish(st: RequestState, upstreamStatus: number | undefined, err: unknown, linger = false): void {
    if (st.slot !== undefined) { this.slots.release(st.slot); st.slot = undefined; }
    try {
      if (err === undefined) {
        this.#done(st.rt, st.view, st.res, st, upstreamStatus, undefined);
      } else {
        const e = toTrackgateError(err);
        const shed = shedReason(e);
        if (shed !== undefined) this.deps.metrics.shed(shed);
        if (this.draining) st.res.shouldKeepAlive = false;
        sendError(st.res, e, st.requestId, linger ? (end) => this.endAfterBody(st.req, end) : undefined);
        this.#done(st.rt, st.view, st.res, st, undefined, e);
      }
    } finally {
      this.inflight--;
    }
  }

  #done(rt: Runtime, view: NodeRequestView, res: ServerResponse, st: RequestState, upstreamStatus: number | undefined, err: TrackgateError | undefined): void {
    const { admission, failure } = st;
    const status = err?.status ?? upstreamStatus ?? res.statusCode;
    const scheme = admission?.identity !== undefined ? (admission as AuthResult).scheme
      : admission?.local !== undefined ? admission.local : admission ? 'public' : (failure.scheme ?? 'none');
    const outcome = admission?.local !== undefined ? 'token_endpoint' : err === undefined ? 'forwarded'
      : err.code === 'TG_ERR_UPSTREAM_UNAVAILABLE' || err.code === 'TG_ERR_UPSTREAM_TIMEOUT' ? 'upstream_error' : 'rejected';
    this.deps.metrics.request(scheme, outcome, status);
    // An invalid credential forwarded as anonymous is logged like a rejection: why it was not the client's identity.
    const why = err ?? (admission?.identity !== undefined ? admission.anonymous : undefined);
    if (!rt.config.logging.access && why === undefined) return;
    const line: AccessLine = {
      method: view.method,
      path: st.path ?? scrubQuery(view.url, rt.credentialQuery),
      status,
      ms: Math.round((performance.now() - st.started) * 100) / 100,
      scheme,
      rid: st.requestId,
      ip: view.remoteAddress,
    };
    addAccessOutcome(line, admission, failure, why);
    if (why !== undefined) {
      if (err === undefined) this.#access('warn', line, 'invalid credentials forwarded as anonymous');
      else this.#access(err.status >= 500 ? 'error' : 'warn', line, 'request rejected');
    } else {
      this.#access('info', line, 'request');
    }
  }
}

/** Whether the request has a body (declared length above 0, or chunked). */
function hasBody(req: Pick<IncomingMessage, 'headers'>): boolean {
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/** The pace a request body must keep (`limits.bodyIdleTimeoutMs`, `limits.bodyMinBytesPerSecond`). */
function bodyLimits(l: Runtime['config']['limits']): WatchLimits {
  return { idleMs: l.bodyIdleTimeoutMs, minBytesPerSecond: l.bodyMinBytesPerSecond };
}

function clientGone(): TrackgateError {
  return new TrackgateError('TG_ERR_BAD_REQUEST', 'client closed request', { detail: 'client disconnected before its request was forwarded', status: 499 });
}

/** The `trackgate_shed_requests_total` reason of an error, if it sheds load. */
function shedReason(e: TrackgateError): string | undefined {
  if (e.code === 'TG_ERR_OVERLOADED') return e.detail ?? 'overloaded';
  if (e.code === 'TG_ERR_BODY_TIMEOUT') return e.detail?.startsWith('body_rate') ? 'body_rate' : 'body_idle';
  return undefined;
}
