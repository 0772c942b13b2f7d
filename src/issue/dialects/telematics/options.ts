/** The telematics dialect's id, its config block (`issue.telematics`) and what its handlers share. */
import { z } from 'zod';
import { accessJwt } from '../../access-jwt.js';
import type { PairOptions } from '../../refresh.js';
import type { Subject } from '../../tokens.js';
import type { IssueDeps } from '../../types.js';

export const ID = 'telematics';

export const telematicsOptions = z.object({
  enabled: z.boolean().default(true).describe('Serve the telematics user service: `POST <prefix>/Login` and `POST <prefix>/RefreshToken`.'),
  prefix: z.string().regex(/^\/[^?#]*[^/]$/).default('/v1/Auth').describe('Path prefix of the Login and RefreshToken endpoints (the seed: `/v1/Auth`).'),
  accessTtlSeconds: z.number().int().min(60).max(30 * 86400).default(7200).describe('Access token (JWT) lifetime, `ExpiresIn` (the seed: "expires every 2 hours").'),
  refreshTtlSeconds: z.number().int().min(60).max(365 * 86400).default(30 * 86400).describe('Refresh token lifetime.'),
  jwtIssuer: z.string().min(1).default('trackgate').describe('`iss` claim of the access tokens.'),
  jwtAudience: z.string().min(1).default('trackgate:telematics').describe('`aud` claim of the access tokens; keep it different from `identity.audience`.'),
});

export interface TelematicsContext {
  readonly options: z.output<typeof telematicsOptions>;
  readonly deps: IssueDeps;
}

/** The JWT access-token builder of `subject`'s pairs. */
export function accessValueFor({ options, deps }: TelematicsContext, subject: Subject): NonNullable<PairOptions['accessValue']> {
  return accessJwt(deps, subject, { issuer: options.jwtIssuer, audience: options.jwtAudience });
}
