/**
 * `POST <prefix>/refresh`: the refresh endpoint of the `/auth` documents. oauth2-jwt-auth-api names it
 * (`/auth/refresh`, form `refresh_token`); bearer-token-login only says "make a separate API call to refresh
 * your auth session … pass the refreshToken value", so its clients use the same endpoint with JSON
 * `refreshToken`. Which dialects take part is declared, not listed here: each one whose pairs are refreshed
 * here has a {@link RefreshCapability} (`Dialect.refresh`), and the router (router.ts) serves one endpoint per
 * declared path with one SharedRefresh over every enabled declaring dialect:
 * - it reads the token from any declared field, in either body type (two fields with different values → 400);
 * - it refreshes only families issued by a declaring dialect: another endpoint's refresh token (telematics,
 *   which also requires the access token) is refused without being spent;
 * - it answers in the shape of the dialect that issued the family (`renderPair`, and that dialect's kind of
 *   access token, `accessValueFor`); an error before the issuer is known is rendered by the first declaring
 *   dialect whose own field the client used, else by the first declaring dialect;
 * - it digests the presented token and reads its record once (`RefreshRotation.present`), then rotates it.
 */
import { TrackgateError, toTrackgateError } from '../errors.js';
import { MAX_TOKEN_LENGTH } from '../authn/stored-token.js';
import { stringField } from './body.js';
import type { RefreshRotation } from './refresh.js';
import { subjectOf } from './tokens.js';
import type { Dialect, IssueReply, IssueRequest, RefreshCapability } from './types.js';

/** A dialect that declares a refresh capability. */
export type RefreshingDialect = Dialect & { readonly refresh: RefreshCapability };

export function isRefreshing(d: Dialect): d is RefreshingDialect {
  return d.refresh !== undefined;
}

export class SharedRefresh {
  /** Every declared field, in declaration order. */
  readonly #fields: readonly string[];

  /** `declarants`: every enabled dialect with a refresh capability, in registry order (at least one). */
  constructor(private readonly declarants: readonly RefreshingDialect[], private readonly rotation: RefreshRotation) {
    this.#fields = [...new Set(declarants.flatMap((d) => d.refresh.fields))];
  }

  /** The handler of every shared refresh path. A body that cannot be read is the path owner's to render. */
  readonly handle = async (req: IssueRequest): Promise<IssueReply> => {
    const body = await req.body();
    const given = this.#fields.flatMap((name) => {
      const value = stringField(body, name);
      return value === undefined ? [] : [{ name, value }];
    });
    let shape = this.declarants.find((d) => given.some((g) => g.name === d.refresh.fields[0])) ?? this.declarants[0]!;
    try {
      const other = given.find((g) => g.value !== given[0]!.value);
      if (other !== undefined) {
        throw new TrackgateError('TG_ERR_BAD_REQUEST', `${given[0]!.name} and ${other.name} differ`, { reason: 'malformed' });
      }
      const value = given[0]?.value;
      if (value === undefined || value === '') {
        throw new TrackgateError('TG_ERR_BAD_REQUEST', `${this.#fields[0]} required`, { reason: 'malformed' });
      }
      if (value.length > MAX_TOKEN_LENGTH) throw invalid('refresh token longer than any issued one');
      const presented = await this.rotation.present(value);
      const rec = presented.record;
      if (rec === undefined || rec.type !== 'refresh') throw invalid('unknown refresh token');
      const issuer = this.declarants.find((d) => d.id === rec.issuer);
      if (issuer === undefined) throw invalid(`refresh token of ${rec.issuer}, which no enabled dialect refreshes here`);
      shape = issuer;
      const pair = await this.rotation.rotate(presented, issuer.refresh.accessValueFor?.(subjectOf(rec)));
      return issuer.refresh.renderPair(pair, req);
    } catch (err) {
      const error = toTrackgateError(err);
      return { ...shape.renderError(error, req), error };
    }
  };
}

function invalid(detail: string): TrackgateError {
  return new TrackgateError('TG_ERR_INVALID_CREDENTIALS', 'invalid refresh token', { reason: 'invalid', detail });
}
