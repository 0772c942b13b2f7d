/**
 * Every legacy token-endpoint dialect. To add one: write `dialects/<id>.ts` exporting a DialectModule and add
 * one line here.
 */
import { gpsRestV2 } from './dialects/gps-rest-v2.js';
import { oauth2Password } from './dialects/oauth2-password.js';
import { fleetLogin } from './dialects/fleet-login.js';
import { telematics } from './dialects/telematics/index.js';
import { geoloqi } from './dialects/geoloqi/index.js';
import { operator } from './dialects/operator.js';
import type { DialectModule } from './types.js';

export const DIALECTS = [
  gpsRestV2,
  oauth2Password,
  fleetLogin,
  telematics,
  geoloqi,
  operator,
] as const satisfies readonly DialectModule<string, any>[];
