/**
 * Geoloqi (seed: geoloqi-authentication.txt), under `prefix` (`/1`, the Geoloqi API version):
 *
 * | endpoint                   | client authentication                  | request                                    | 200                                                        |
 * |----------------------------|----------------------------------------|--------------------------------------------|------------------------------------------------------------|
 * | `POST /1/oauth/token`      | `client_id` + `client_secret`          | `grant_type=client_credentials`            | application token `{access_token, token_type, expires_in}` |
 * | `POST /1/oauth/token`      | `client_id` [+ `client_secret`]        | `grant_type=password`, `username`, `password` | user token, same shape                                  |
 * | `POST /1/user/create_anon` | `client_id` [+ `client_secret`]        | [`key`] [`extra`]                          | `{display_name: "Anonymous", username: "_…", user_id, is_anonymous: 1, key, access_token, extra}` |
 * | `POST /1/user/create`      | `client_id` [+ `client_secret`]        | `username`, `password` [`email`, `name`, `key`, `extra`] | `{display_name, username, user_id, is_anonymous: 0, key, access_token, extra}` |
 * | `POST /1/user/delete`      | `client_id` + `client_secret`          | `user_id` (a user this application created) | `{result: "ok", user_id}`; the user's tokens revoked everywhere |
 *
 * Bodies are form-urlencoded or JSON. The client (an accounts-file `applications` entry) authenticates with
 * `client_id`/`client_secret` in the body or with HTTP Basic (RFC 6749 §2.3.1), never both; the secret is a
 * password hash, checked with the same throttle as every password (per `client:<id>` and per address).
 * `extra` is a JSON object (JSON body), a JSON string, or `extra[name]=value` form fields.
 *
 * Tokens are opaque `access` records (256 random bits, stored by digest), accepted on the proxy path by the
 * `oauth` form (`Authorization: OAuth <token>`, `?access_token=`) and by `bearer`, hence
 * `token_type: "bearer"`. Application tokens: `kind: app`, `sub` = client id; they may act for any `user_id`.
 * User tokens: `kind: user` (named) or `anonymous`, `sub` = `user_id` (accounts-file users: their id/username);
 * they may act only for themselves. `data.client_id` names the application that obtained the token.
 *
 * Users created here are durable in the store (the store is their source of truth; passwords are scrypt
 * hashes). A username taken in the accounts file or the store → 409 `duplicate_username`; usernames starting
 * with `_` are reserved for anonymous users. The password grant tries the accounts file first, then the store.
 *
 * De-duplication `key` (unique per application): `create_anon` with a key that already has a user answers
 * with that user, and a NEW access token for it (only digests are stored, so the first token cannot be handed
 * out again; the first stays valid), but only when the client secret was given and verified; without it,
 * 409 `duplicate_key` exactly as the seed shows. `user/create` de-duplicates by `key` the same way (the seed
 * points named users to the same "De-Duplication" rules); a new named user also needs a free username.
 *
 * `user/delete` (client id and secret): the user and every token of theirs are gone in one store step, on every
 * replica; an application deletes only the users it created (`StoredUser.app`).
 *
 * One file per endpoint: `oauth-token.ts`, `create-anon.ts`, `create-user.ts`, `delete-user.ts`.
 *
 * Errors, everywhere in this dialect: `{"error_code": <status>, "error": "<code>", "error_description": "…"}`:
 * 400 `invalid_request`, 401 `invalid_client`, 400 `invalid_grant`, 400 `unsupported_grant_type`,
 * 404 `not_found` (user/delete), 409 `duplicate_key` / `duplicate_username`, 429 `slow_down` (with Retry-After), 503 `temporarily_unavailable`.
 */
import { defineDialect } from '../../types.js';
import { createAnon } from './create-anon.js';
import { createUser } from './create-user.js';
import { deleteUser } from './delete-user.js';
import { renderGeoloqiError } from './errors.js';
import { oauthToken } from './oauth-token.js';
import { geoloqiOptions, ID } from './options.js';

export const geoloqi = defineDialect({
  id: ID,
  options: geoloqiOptions,
  create(options, deps) {
    const ctx = { options, deps };
    const base = options.prefix;
    return {
      id: ID,
      routes: [
        { method: 'POST', path: `${base}/oauth/token`, handle: (req) => oauthToken(ctx, req), doc: { summary: 'Application token (client_credentials) or user token (password grant).', fields: { grant_type: true, client_id: false, client_secret: false, username: false, password: false } } },
        { method: 'POST', path: `${base}/user/create_anon`, handle: (req) => createAnon(ctx, req), doc: { summary: 'An anonymous user and its token; a known `key` answers that user (with the secret) or 409.', fields: { client_id: false, client_secret: false, key: false, extra: false } } },
        { method: 'POST', path: `${base}/user/create`, handle: (req) => createUser(ctx, req), doc: { summary: 'A named user and its token; de-duplicated by `key` as create_anon.', fields: { client_id: false, client_secret: false, username: true, password: true, email: false, name: false, key: false, extra: false } } },
        { method: 'POST', path: `${base}/user/delete`, handle: (req) => deleteUser(ctx, req), doc: { summary: 'Deletes a user this application created, and every token of theirs.', fields: { client_id: false, client_secret: false, user_id: true } } },
      ],
      renderError: renderGeoloqiError,
    };
  },
});
