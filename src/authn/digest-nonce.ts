/**
 * Stateless Digest nonces: any replica holding the same shared secret, before or after a config reload,
 * recognises a nonce another one issued, without a shared table.
 *
 *     nonce  = base64url( version(1) | issued-at ms (6, big-endian) | random (13) | mac (16) )   48 chars
 *     mac    = HMAC-SHA256(k, version | issued-at | random | realm)[0..16]
 *     opaque = base64url( HMAC-SHA256(k, "opaque" 0x00 realm)[0..24] )
 *     k      = HMAC-SHA256(sharedSecret, "trackgate/digest-nonce/v1")   (domain separation)
 *
 * The random part makes every challenge's nonce distinct, so two clients never share one `nc` sequence.
 * A nonce is bound to the realm: after a realm change old nonces are plainly invalid (the client's
 * credentials were for another realm anyway). Only the canonical base64url spelling is accepted, so one
 * nonce has exactly one string form (the `nc` replay store is keyed by it).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/**
 * Nonces recently verified, with their issue time: a client sends the same nonce on every request until it
 * goes stale, so the MAC check (an HMAC and a base64 round trip) runs once per nonce, not once per request.
 * Only nonces that passed the check are remembered, so this holds nothing a client could plant.
 */
const VERIFIED_NONCES = 10_000;

const VERSION = 1;
const TS_BYTES = 6;
const RANDOM_BYTES = 13;
const MAC_BYTES = 16;
const NONCE_BYTES = 1 + TS_BYTES + RANDOM_BYTES + MAC_BYTES;
const NONCE_RE = /^[A-Za-z0-9_-]{48}$/;

export class DigestNonces {
  readonly #key: Buffer;
  readonly #realm: Buffer;
  readonly #verified = new LRUCache<string, number>({ max: VERIFIED_NONCES });
  /** The `opaque` value of every challenge for this realm. */
  readonly opaque: string;

  constructor(sharedSecret: Buffer, realm: string) {
    this.#key = createHmac('sha256', sharedSecret).update('trackgate/digest-nonce/v1').digest();
    this.#realm = Buffer.from(realm, 'utf8');
    this.opaque = createHmac('sha256', this.#key).update('opaque\0').update(this.#realm).digest().subarray(0, 24).toString('base64url');
  }

  /** A fresh nonce stamped `now` (epoch ms). */
  issue(now: number): string {
    const buf = Buffer.alloc(NONCE_BYTES);
    buf[0] = VERSION;
    buf.writeUIntBE(Math.max(0, Math.floor(now)), 1, TS_BYTES);
    randomBytes(RANDOM_BYTES).copy(buf, 1 + TS_BYTES);
    this.#mac(buf.subarray(0, 1 + TS_BYTES + RANDOM_BYTES)).copy(buf, 1 + TS_BYTES + RANDOM_BYTES);
    return buf.toString('base64url');
  }

  /** The issue time (epoch ms) of a nonce we made for this realm, or `undefined` for anything else. */
  open(nonce: string): number | undefined {
    const known = this.#verified.get(nonce);
    if (known !== undefined) return known;
    if (!NONCE_RE.test(nonce)) return undefined;
    const buf = Buffer.from(nonce, 'base64url');
    if (buf.length !== NONCE_BYTES || buf[0] !== VERSION || buf.toString('base64url') !== nonce) return undefined;
    const body = buf.subarray(0, 1 + TS_BYTES + RANDOM_BYTES);
    const mac = buf.subarray(1 + TS_BYTES + RANDOM_BYTES);
    if (!timingSafeEqual(mac, this.#mac(body))) return undefined;
    const issuedAt = buf.readUIntBE(1, TS_BYTES);
    this.#verified.set(nonce, issuedAt);
    return issuedAt;
  }

  #mac(body: Buffer): Buffer {
    return createHmac('sha256', this.#key).update(body).update(this.#realm).digest().subarray(0, MAC_BYTES);
  }
}
