/**
 * The upstream side of one WebSocket handshake, as an undici dispatch handler. A 101 hands over the upstream
 * socket: the client gets a 101 with the upstream's head less its hop-by-hop fields, and the caller relays the
 * two sockets. Any other answer is relayed to the client framed (by its length, or chunked) and the
 * connection closed after it; one whose body breaks off or stalls past `upstream.bodyTimeoutMs` is cut (no
 * final chunk), never left open. Before any byte reached the client, a failure (no answer within
 * `upstream.headersTimeoutMs`, refused, garbage) is the caller's to answer with a 502/504.
 */
import { STATUS_CODES, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { errors, type Dispatcher } from 'undici';
import { downstreamHeaders } from './headers.js';

export interface UpgradeOutcome {
  /** The upstream switched protocols; the client has its 101. */
  opened(upstream: Socket): void;
  /** No answer reached the client: it can still be given an error response (unless it has gone). */
  failed(err: Error): void;
}

export class UpgradeDispatch implements Dispatcher.DispatchHandler {
  readonly #client: Duplex;
  readonly #outcome: UpgradeOutcome;
  #controller: Dispatcher.DispatchController | undefined;
  /** A refusal's head went to the client: a failure now can only cut it. */
  #answered = false;
  #chunked = false;
  #settled = false;
  #waitingDrain = false;

  constructor(client: Duplex, outcome: UpgradeOutcome) {
    this.#client = client;
    this.#outcome = outcome;
    client.once('close', this.#onClientClose);
  }

  /** A client that goes away cancels the handshake, or a refusal being relayed. */
  readonly #onClientClose = (): void => {
    if (!this.#settled) this.#controller?.abort(new errors.RequestAbortedError());
  };

  readonly #onDrain = (): void => {
    this.#waitingDrain = false;
    this.#controller?.resume();
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#client.destroyed) controller.abort(new errors.RequestAbortedError());
  }

  onRequestUpgrade(_controller: Dispatcher.DispatchController, _status: number, headers: IncomingHttpHeaders, socket: Duplex): void {
    this.#settle();
    const upstream = socket as Socket;
    if (this.#client.destroyed) {
      upstream.destroy();
      return;
    }
    const head = { ...downstreamHeaders(headers), connection: 'Upgrade', upgrade: headers.upgrade ?? 'websocket' };
    this.#client.write(`HTTP/1.1 101 Switching Protocols\r\n${serialise(head)}\r\n`);
    this.#outcome.opened(upstream);
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (status < 200) return; // 1xx informational (a 101 comes through onRequestUpgrade)
    this.#answered = true;
    const bodiless = status === 204 || status === 304;
    this.#chunked = !bodiless && headers['content-length'] === undefined;
    const head: Record<string, string | string[]> = { ...downstreamHeaders(headers), connection: 'close' };
    if (this.#chunked) head['transfer-encoding'] = 'chunked';
    const text = statusMessage !== undefined && statusMessage !== '' ? statusMessage : STATUS_CODES[status] ?? '';
    if (!this.#client.write(`HTTP/1.1 ${status} ${text}\r\n${serialise(head)}\r\n`)) this.#pause(controller);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (chunk.length === 0) return; // an empty chunk would read as the last one
    if (this.#chunked) this.#client.write(`${chunk.length.toString(16)}\r\n`);
    const more = this.#client.write(chunk);
    if (this.#chunked) this.#client.write('\r\n');
    if (!more) this.#pause(controller);
  }

  onResponseEnd(): void {
    this.#settle();
    this.#client.end(this.#chunked ? '0\r\n\r\n' : undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.#settled) return;
    this.#settle();
    if (this.#answered) this.#client.destroy();
    else this.#outcome.failed(err);
  }

  #pause(controller: Dispatcher.DispatchController): void {
    controller.pause();
    if (this.#waitingDrain) return;
    this.#waitingDrain = true;
    this.#client.once('drain', this.#onDrain);
  }

  #settle(): void {
    this.#settled = true;
    this.#client.removeListener('close', this.#onClientClose);
    this.#client.removeListener('drain', this.#onDrain);
  }
}

/** Header lines of a raw response head (each ending in CRLF). undici hands over values without CR or LF. */
function serialise(headers: Record<string, string | string[]>): string {
  let out = '';
  for (const name in headers) {
    const v = headers[name]!;
    for (const x of Array.isArray(v) ? v : [v]) out += `${name}: ${x}\r\n`;
  }
  return out;
}
