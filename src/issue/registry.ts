/**
 * Every legacy token-endpoint dialect, one module per id of `ids.ts`. To add one: write `dialects/<id>.ts`
 * exporting a DialectModule, add its id to `ids.ts` and one line here.
 */
import type { z } from 'zod';
import { gpsRestV2 } from './dialects/gps-rest-v2.js';
import { oauth2Password } from './dialects/oauth2-password.js';
import { fleetLogin } from './dialects/fleet-login/index.js';
import { telematics } from './dialects/telematics/index.js';
import { geoloqi } from './dialects/geoloqi/index.js';
import { operator } from './dialects/operator.js';
import { DIALECT_IDS, type DialectId } from './ids.js';
import type { Dialect, DialectModule, IssueDeps } from './types.js';

const BY_ID = {
  gps_rest_v2: gpsRestV2,
  oauth2_password: oauth2Password,
  fleet_login: fleetLogin,
  telematics,
  geoloqi,
  operator,
} as const satisfies { readonly [K in DialectId]: DialectModule<K, any> };

export const DIALECTS = DIALECT_IDS.map((id) => BY_ID[id]);

/** Each dialect's options (its `issue.<id>` block, parsed), by id. */
export type DialectOptions = { readonly [K in DialectId]: z.output<(typeof BY_ID)[K]['options']> };

/** Every dialect seen through its own id, so that `createDialect` needs no cast (TypeScript's correlated unions). */
const CREATORS: { readonly [K in DialectId]: { create(options: DialectOptions[K], deps: IssueDeps): Dialect } } = BY_ID;

/** Builds dialect `id` from its config block. */
export function createDialect<K extends DialectId>(id: K, options: DialectOptions[K], deps: IssueDeps): Dialect {
  return CREATORS[id].create(options, deps);
}
