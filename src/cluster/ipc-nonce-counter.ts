/**
 * The Digest `nc` replay store of a worker process: every (nonce, nc) goes to the primary's one
 * MemoryNonceCounterStore, so a count used on one worker is refused on every other. Fails closed: when the
 * primary does not answer in time the request is refused with 503 (TG_ERR_SOURCE_UNAVAILABLE), never accepted.
 */
import type { NonceCounterStore, NonceCountVerdict } from '../store/digest-nonce-counter.js';
import type { IpcChannel } from './ipc.js';
import { METHOD, type NonceRecordParams } from './protocol.js';

export class IpcNonceCounter implements NonceCounterStore {
  constructor(private readonly primary: IpcChannel) {}

  record(nonce: string, nc: number, issuedAt: number, expiresAt: number): Promise<NonceCountVerdict> {
    return this.primary.request<NonceCountVerdict>(METHOD.nonceRecord, { nonce, nc, issuedAt, expiresAt } satisfies NonceRecordParams);
  }
}
