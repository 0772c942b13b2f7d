/** The Geoloqi dialect's id and its config block, `issue.geoloqi`. */
import { z } from 'zod';
import type { IssueDeps } from '../../types.js';

export const ID = 'geoloqi';

export const geoloqiOptions = z.object({
  enabled: z.boolean().default(true).describe('Serve the Geoloqi endpoints: `POST <prefix>/oauth/token`, `<prefix>/user/create_anon`, `<prefix>/user/create`, `<prefix>/user/delete`.'),
  prefix: z.string().regex(/^\/[^?#]*[^/]$/).default('/1').describe('Path prefix of the Geoloqi endpoints (the Geoloqi API version, `/1`).'),
  userTokenTtlSeconds: z.number().int().min(60).max(10 * 365 * 86400).default(365 * 86400)
    .describe('User access token lifetime (`expires_in`). Anonymous users have no password: when their token expires they cannot log in again, so keep it long.'),
  appTokenTtlSeconds: z.number().int().min(60).max(365 * 86400).default(30 * 86400)
    .describe('Application access token lifetime (`grant_type=client_credentials`).'),
  minPasswordLength: z.number().int().min(1).max(128).default(8).describe('Shortest password `user/create` accepts.'),
});

/** What every Geoloqi route handler works with. */
export interface GeoloqiContext {
  readonly options: z.output<typeof geoloqiOptions>;
  readonly deps: IssueDeps;
}
