/**
 * Every legacy token-endpoint dialect. To add one: write `dialects/<id>.ts` exporting a DialectModule and add
 * one line here.
 */
import { gpsRestV2 } from './dialects/gps-rest-v2.js';
import type { DialectModule } from './types.js';

export const DIALECTS = [
  gpsRestV2,
] as const satisfies readonly DialectModule<string, any>[];
