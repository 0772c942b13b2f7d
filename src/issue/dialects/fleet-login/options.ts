/** The fleet login dialect's id, its config block (`issue.fleet_login`) and what its handlers share. */
import { z } from 'zod';
import type { IssueDeps } from '../../types.js';

export const ID = 'fleet_login';

export const fleetLoginOptions = z.object({
  enabled: z.boolean().default(true).describe('Serve the fleet-tracking bearer login: `POST <prefix>/login`, `POST <prefix>/masquerade` (and `POST <prefix>/refresh`, shared with oauth2_password).'),
  prefix: z.string().regex(/^\/[^?#]*[^/]$/).default('/auth').describe('Path prefix of the login, masquerade and refresh endpoints (the seed: `/auth`).'),
  accessTtlSeconds: z.number().int().min(60).max(86400).default(3600).describe('Bearer token lifetime, `tokenLifetime` (the seed: 3600).'),
  refreshTtlSeconds: z.number().int().min(60).max(365 * 86400).default(30 * 86400).describe('Refresh token lifetime, `refreshTokenExpiration` (the seed shows about a month).'),
  masqueradeKeepsPrevious: z.boolean().default(false)
    .describe('Whether a masquerade leaves the presented session (its token and refresh token) valid. Off: one account at a time, as the seed says ("Bearer tokens are only associated with a single account at any time").'),
});

export interface FleetLoginContext {
  readonly options: z.output<typeof fleetLoginOptions>;
  readonly deps: IssueDeps;
}
