/**
 * `POST <prefix>/refresh`: the refresh endpoint of the `/auth` documents. oauth2-jwt-auth-api names it
 * (`/auth/refresh`, form `refresh_token`); bearer-token-login only says "make a separate API call to refresh
 * your auth session … pass the refreshToken value", so its clients use the same endpoint with JSON
 * `refreshToken`. Both field names are read from either body type.
 *
 * Ownership: whichever of oauth2_password and fleet_login is enabled registers the route; when both are (on
 * the same prefix) each gets the very same route object from {@link refreshRoute}, which the router treats as
 * one endpoint (any other double claim of a path is still a start-up error). The handler does not depend on
 * which dialect registered it:
 * - it answers in the shape of the dialect that issued the family (`TokenRecord.issuer` → `renderPair`) and
 *   mints that dialect's kind of access token (JWT or opaque, `accessValueFor`);
 * - it accepts only families of {@link AUTH_REFRESH_ISSUERS} whose dialect is enabled: another endpoint's
 *   refresh token (telematics, which also requires the access token) is refused without being spent;
 * - its errors are rendered by the issuing dialect once the token is known, before that by the dialect whose
 *   field name the client used (`refreshToken` → fleet_login, `refresh_token` → oauth2_password), falling
 *   back to the path's owner: see {@link renderInRequestShape}.
 */
import { TrackgateError, toTrackgateError } from '../errors.js';
import { MAX_TOKEN_LENGTH } from '../authn/stored-token.js';
import type { TokenRecord } from '../store/types.js';
import { stringField } from './body.js';
import type { PairOptions, TokenPair } from './refresh.js';
import type { Subject } from './tokens.js';
import type { Dialect, IssueDeps, IssueReply, IssueRequest, IssueRoute } from './types.js';

/** The dialects whose families `<prefix>/refresh` rotates. */
export const AUTH_REFRESH_ISSUERS: readonly string[] = ['oauth2_password', 'fleet_login'];

/** A dialect that issues refreshable pairs. */
export interface PairDialect extends Dialect {
  renderPair(pair: TokenPair, req: IssueRequest): IssueReply;
  /** The access-token builder of this dialect's refreshed pairs (JWT dialects); random opaque values when absent. */
  accessValueFor?(subject: Subject): PairOptions['accessValue'];
}

const routes = new WeakMap<IssueDeps, Map<string, IssueRoute>>();
/** Which dialect's shape an error of the shared route should be rendered in. */
const errorShapes = new WeakMap<TrackgateError, string>();

/** The shared refresh route at `path` (one object per app and path, so the router sees one endpoint). */
export function refreshRoute(deps: IssueDeps, path: string): IssueRoute {
  let byPath = routes.get(deps);
  if (byPath === undefined) routes.set(deps, (byPath = new Map()));
  let route = byPath.get(path);
  if (route === undefined) {
    route = { method: 'POST', path, handle: (req) => refresh(deps, req) };
    byPath.set(path, route);
  }
  return route;
}

/**
 * For the path owner's `renderError`: the dialect an error of the shared refresh route belongs to, when it
 * is another enabled dialect than `selfId`; undefined otherwise (render it yourself).
 */
export function renderInRequestShape(err: TrackgateError, req: IssueRequest, deps: IssueDeps, selfId: string): IssueReply | undefined {
  const id = errorShapes.get(err);
  if (id === undefined || id === selfId) return undefined;
  return deps.dialect(id)?.renderError(err, req);
}

async function refresh(deps: IssueDeps, req: IssueRequest): Promise<IssueReply> {
  const body = await req.body();
  const form = stringField(body, 'refresh_token');
  const json = stringField(body, 'refreshToken');
  let shape = json !== undefined && form === undefined ? 'fleet_login' : 'oauth2_password';
  try {
    if (form !== undefined && json !== undefined && form !== json) {
      throw new TrackgateError('TG_ERR_BAD_REQUEST', 'refresh_token and refreshToken differ', { reason: 'malformed' });
    }
    const value = form ?? json;
    if (value === undefined || value === '') {
      throw new TrackgateError('TG_ERR_BAD_REQUEST', 'refresh_token required', { reason: 'malformed' });
    }
    if (value.length > MAX_TOKEN_LENGTH) throw invalid('refresh token longer than any issued one');
    const rec = await deps.tokens.lookup(value);
    if (rec === undefined || rec.type !== 'refresh') throw invalid('unknown refresh token');
    if (!AUTH_REFRESH_ISSUERS.includes(rec.issuer)) throw invalid(`refresh token of ${rec.issuer} presented to the shared refresh endpoint`);
    shape = rec.issuer;
    const owner = deps.dialect(rec.issuer);
    if (owner === undefined || owner.renderPair === undefined) throw invalid(`dialect ${rec.issuer} is disabled`);
    const pair = await deps.refresh.rotate(value, (owner as PairDialect).accessValueFor?.(subjectOf(rec)));
    return owner.renderPair(pair, req);
  } catch (err) {
    const e = toTrackgateError(err);
    errorShapes.set(e, shape);
    throw e;
  }
}

function invalid(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid refresh token', { reason: 'invalid', detail });
}

export function subjectOf(rec: TokenRecord): Subject {
  return {
    subject: rec.subject, kind: rec.kind,
    ...(rec.account !== undefined ? { account: rec.account } : {}),
    ...(rec.instance !== undefined ? { instance: rec.instance } : {}),
  };
}
