/**
 * The id of every token-endpoint dialect: its config key (`issue.<id>`), its metric label, the `issuer` of
 * the tokens it stores, and its file's name (`dialects/<id>.ts` or `dialects/<id>/`, `_` spelt `-`). Listed
 * here, below the dialects, so the contracts (`types.ts`) can name the type without importing them; the
 * registry refuses to compile unless it has exactly one module per id.
 */
export const DIALECT_IDS = ['gps_rest_v2', 'oauth2_password', 'fleet_login', 'telematics', 'geoloqi', 'operator'] as const;

export type DialectId = (typeof DIALECT_IDS)[number];
