/**
 * The id of every credential form, in the order their challenges are announced. An id is the form's config
 * key (`authn.<id>`), its metric label and log field, and its file's name (`forms/<id>.ts` or `forms/<id>/`,
 * `_` spelt `-`). Listed here, below the forms, so the contracts (`types.ts`) can name the type without
 * importing the forms; the registry refuses to compile unless it has exactly one module per id.
 */
export const AUTHN_IDS = ['basic', 'digest', 'session_token', 'oauth', 'instance', 'bearer', 'remote'] as const;

export type AuthnId = (typeof AUTHN_IDS)[number];
