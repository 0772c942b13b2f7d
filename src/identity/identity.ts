/**
 * Who a request is from, once a credential form has verified it: what the validation cache keeps and the
 * identity-header minter signs. Defined below both, so neither depends on the forms that produce it.
 */

/** What kind of principal an identity is. Appears as the `kind` claim of the identity header. */
export type IdentityKind = 'user' | 'device' | 'app' | 'admin' | 'anonymous';

/**
 * The principal every form yields, whatever the client spoke. Frozen; the only thing the minter sees.
 */
export interface Identity {
  /** Stable subject id (`sub` claim). */
  readonly subject: string;
  /** Id of the credential form that authenticated the request (`scheme` claim). */
  readonly scheme: string;
  /** `kind` claim. */
  readonly kind: IdentityKind;
  /** Account the credential is bound to, where the credential form has one (`account` claim). */
  readonly account?: string;
  /** Telematics instance (user group or API instance), where known (`instance` claim). */
  readonly instance?: string;
  /**
   * Who is acting, when it is not simply `subject` on its own behalf: the user who bound the credential to its
   * account by a masquerade (the `act` claim, RFC 8693 §4.1, as `{"sub": actor}`).
   */
  readonly actor?: string;
  /**
   * The token-endpoint dialect that issued the credential (stored tokens), or the wire variant of the form, where
   * it has one (not a claim): the inventory counts clients per form and dialect.
   */
  readonly dialect?: string;
  /** Epoch milliseconds after which the credential itself is no longer valid. */
  readonly expiresAt?: number;
  /**
   * Store digest of the issued token this identity came from (not a claim). Revoking that token evicts
   * every cache entry carrying it, on every replica.
   */
  readonly tokenDigest?: string;
}
