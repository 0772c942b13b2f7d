/**
 * Long-lived connections (WebSockets, see upgrade.ts) must not outlive what admitted them.
 * A session is closed by trackgate:
 *
 * | when                                                            | close code | reason                          |
 * |-----------------------------------------------------------------|------------|---------------------------------|
 * | the identity's credential expires (`identity.expiresAt`)        | 4401       | `token expired`                 |
 * | its token is revoked (a store `revoked` event with its digest)  | 4401       | `token revoked`                 |
 * | `upstream.websocketMaxLifetimeSeconds` after the upgrade        | 1008       | `maximum session lifetime reached` |
 * | trackgate shuts down                                            | 1001       | `server shutting down`          |
 *
 * 4401 is in the private-use range (4000–4999) and mirrors HTTP 401: the client should re-authenticate and
 * reconnect. A store `resync` (events may have been lost) re-reads every tracked token.
 *
 * Closing means: stop relaying, send the client a close frame, end the client socket, destroy the upstream one.
 * The close frame must not land inside a frame the upstream is sending, so the upstream→client direction is
 * relayed here through a frame-boundary tracker rather than by a pipe: the frame in flight is completed first
 * (for at most {@link DRAIN_MS}). The client→upstream direction is a plain pipe (upgrade.ts).
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Identity } from '../identity/identity.js';
import type { Logger } from '../observability/log.js';
import type { Store, StoreEvent } from '../store/types.js';

/** Token expired or revoked: re-authenticate, then reconnect. */
export const CLOSE_TOKEN = 4401;
/** RFC 6455 policy violation: the maximum session lifetime was reached. */
export const CLOSE_POLICY = 1008;
/** RFC 6455 going away: trackgate is shutting down. */
export const CLOSE_GOING_AWAY = 1001;
/** How long a close waits for the frame in flight, and then for the client to close its side. */
export const DRAIN_MS = 1000;
/** setTimeout's longest delay; longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A close frame as a server sends it (unmasked). `reason` is cut to fit a control frame (125 bytes). */
export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 123);
  const frame = Buffer.alloc(4 + text.length);
  frame[0] = 0x88; // FIN + opcode 0x8 (close)
  frame[1] = 2 + text.length; // unmasked, payload length
  frame.writeUInt16BE(code, 2);
  text.copy(frame, 4);
  return frame;
}

/**
 * Follows a stream of WebSocket frames (one direction) to know where each ends: headers are 2–14 bytes
 * (RFC 6455 §5.2), then the payload of the length they state.
 */
export class FrameTracker {
  #header: number[] = [];
  #payloadLeft = 0;
  /** Whether a close frame has gone by (the sender started the closing handshake itself). */
  sawClose = false;

  /** Between two frames. */
  get atBoundary(): boolean {
    return this.#header.length === 0 && this.#payloadLeft === 0;
  }

  /**
   * Consumes `chunk`; returns how many bytes were consumed: all of them, or with `untilBoundary` only up to
   * the end of the first frame that ends inside the chunk.
   */
  advance(chunk: Uint8Array, untilBoundary = false): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.#payloadLeft > 0) {
        const n = Math.min(this.#payloadLeft, chunk.length - i);
        this.#payloadLeft -= n;
        i += n;
        if (this.#payloadLeft === 0 && untilBoundary) return i;
        continue;
      }
      this.#header.push(chunk[i++]!);
      const h = this.#header;
      if (h.length < 2) continue;
      const len7 = h[1]! & 0x7f;
      const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (h[1]! & 0x80 ? 4 : 0);
      if (h.length < need) continue;
      if ((h[0]! & 0x0f) === 0x8) this.sawClose = true;
      this.#payloadLeft = len7 === 126 ? h[2]! * 256 + h[3]!
        : len7 === 127 ? h.slice(2, 10).reduce((n, b) => n * 256 + b, 0)
          : len7;
      this.#header = [];
      if (this.#payloadLeft === 0 && untilBoundary) return i;
    }
    return i;
  }
}

interface Session {
  readonly client: Duplex;
  readonly identity: Identity | undefined;
  /** `now()` at the upgrade. */
  readonly started: number;
  readonly frames: FrameTracker;
  upstream: Socket | undefined;
  timer: NodeJS.Timeout | undefined;
  closing: { code: number; reason: string } | undefined;
  done: boolean;
}

export interface SessionLifetimeOptions {
  /** 0: no limit. */
  maxLifetimeSeconds: number;
  /** The app's clock (epoch ms), the one `identity.expiresAt` is measured against. */
  now: () => number;
  store: Pick<Store, 'getToken'>;
  logger: Logger;
}

export class SessionLifetime {
  readonly #sessions = new Set<Session>();
  readonly #byDigest = new Map<string, Set<Session>>();
  readonly #byClient = new WeakMap<Duplex, Session>();

  constructor(private readonly opts: SessionLifetimeOptions) {}

  /** Open sessions being tracked. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Tracks an admitted upgrade's client socket; call before its handshake is sent upstream. */
  track(client: Duplex, identity: Identity | undefined): void {
    const s: Session = {
      client, identity, started: this.opts.now(), frames: new FrameTracker(), upstream: undefined, timer: undefined, closing: undefined, done: false,
    };
    this.#sessions.add(s);
    this.#byClient.set(client, s);
    const digest = identity?.tokenDigest;
    if (digest !== undefined) {
      let set = this.#byDigest.get(digest);
      if (set === undefined) this.#byDigest.set(digest, (set = new Set()));
      set.add(s);
    }
    client.once('close', () => this.#forget(s));
    this.#schedule(s);
  }

  /** Store events: revoked tokens close their sessions; a resync re-reads every tracked token. */
  onStoreEvent(e: StoreEvent): void {
    if (e.type === 'revoked') {
      for (const d of e.digests) for (const s of [...(this.#byDigest.get(d) ?? [])]) this.#close(s, CLOSE_TOKEN, 'token revoked');
      return;
    }
    void this.#recheck();
  }

  /** Closes every session (shutdown). */
  closeAll(code = CLOSE_GOING_AWAY, reason = 'server shutting down'): void {
    for (const s of [...this.#sessions]) this.#close(s, code, reason);
  }

  async #recheck(): Promise<void> {
    for (const [digest, set] of [...this.#byDigest]) {
      let rec;
      try {
        rec = await this.opts.store.getToken(digest);
      } catch {
        continue; // store down: keep the sessions; the next resync or event decides
      }
      if (rec === undefined || rec.revokedAt !== undefined) for (const s of [...set]) this.#close(s, CLOSE_TOKEN, 'token revoked');
    }
  }

  #schedule(s: Session): void {
    const maxMs = this.opts.maxLifetimeSeconds * 1000;
    const maxAt = maxMs > 0 ? s.started + maxMs : Infinity;
    const expAt = s.identity?.expiresAt ?? Infinity;
    const at = Math.min(maxAt, expAt);
    if (at === Infinity) return;
    const arm = (): void => {
      const left = at - this.opts.now();
      if (left > 0) {
        s.timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
        s.timer.unref();
        return;
      }
      if (expAt <= maxAt) this.#close(s, CLOSE_TOKEN, 'token expired');
      else this.#close(s, CLOSE_POLICY, 'maximum session lifetime reached');
    };
    arm();
  }

  /** Relays the upstream→client direction of a tracked client's session, once the upstream switched protocols. */
  relay(client: Duplex, upstream: Socket): void {
    const s = this.#byClient.get(client);
    if (s === undefined || s.done || client.destroyed) {
      upstream.destroy();
      return;
    }
    s.upstream = upstream;
    upstream.on('data', (chunk: Buffer) => {
      if (s.done) return;
      if (s.closing !== undefined) {
        // Complete the frame in flight, drop what follows, then close.
        const n = s.frames.atBoundary ? 0 : s.frames.advance(chunk, true);
        if (n > 0) client.write(chunk.subarray(0, n));
        if (s.frames.atBoundary) this.#finish(s);
        return;
      }
      s.frames.advance(chunk);
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    upstream.on('end', () => { if (s.closing === undefined) client.end(); });
    upstream.resume();
  }

  #close(s: Session, code: number, reason: string): void {
    if (s.closing !== undefined || s.done) return;
    s.closing = { code, reason };
    clearTimeout(s.timer);
    this.opts.logger.info({ sub: s.identity?.subject, scheme: s.identity?.scheme, code, reason }, 'websocket closed by trackgate');
    const { client, upstream } = s;
    if (upstream === undefined) {
      // The upstream handshake has not completed: no frame can be sent yet.
      s.done = true;
      client.destroy();
      return;
    }
    client.unpipe(upstream);
    // Read and discard what the client still sends (its close reply), so its end of the connection is seen.
    client.resume();
    if (s.frames.atBoundary) {
      this.#finish(s);
      return;
    }
    upstream.resume();
    setTimeout(() => {
      if (s.done) return;
      s.done = true;
      upstream.destroy();
      client.destroy();
    }, DRAIN_MS).unref();
  }

  #finish(s: Session): void {
    if (s.done) return;
    s.done = true;
    const { client, upstream, closing } = s;
    upstream?.destroy();
    if (!client.destroyed) {
      if (!s.frames.sawClose && closing !== undefined) client.write(closeFrame(closing.code, closing.reason));
      client.end();
      setTimeout(() => client.destroy(), DRAIN_MS).unref();
    }
  }

  #forget(s: Session): void {
    clearTimeout(s.timer);
    this.#sessions.delete(s);
    const digest = s.identity?.tokenDigest;
    if (digest !== undefined) {
      const set = this.#byDigest.get(digest);
      set?.delete(s);
      if (set?.size === 0) this.#byDigest.delete(digest);
    }
    // Nothing can reach the client any more: drop the upstream side too.
    if (s.upstream !== undefined && !s.upstream.destroyed) s.upstream.destroy();
  }
}
