/**
 * What the primary and its workers say to each other over IPC (see ipc.ts for the transport).
 *
 * worker → primary, requests:  `bootstrap`, `throttle.check`, `throttle.fail`, `throttle.succeed`, `nonce.record`
 * worker → primary, notes:     `listening`
 * primary → worker, requests:  `readiness`, `metrics`, `openapi`
 * primary → worker, notes:     `shutdown`
 */
import type { ReadinessCheck } from '../admin/server.js';
import type { NonceCountVerdict } from '../store/digest-nonce-counter.js';
import type { ThrottleKey } from '../store/throttle.js';

export const METHOD = {
  bootstrap: 'bootstrap',
  throttleCheck: 'throttle.check',
  throttleFail: 'throttle.fail',
  throttleSucceed: 'throttle.succeed',
  nonceRecord: 'nonce.record',
  listening: 'listening',
  readiness: 'readiness',
  metrics: 'metrics',
  openapi: 'openapi',
  shutdown: 'shutdown',
} as const;

/** The primary's answer to `bootstrap`: what a worker needs before it builds its app. */
export interface Bootstrap {
  /** The config file the primary loaded (the worker loads it too, and watches it itself). */
  configFile: string | undefined;
  /** Present when no `identity.keysFile` is configured: the development private JWK set every worker signs with. */
  generatedJwks?: { keys: Record<string, unknown>[] };
  /** Present when no `secretFile` is configured: the HMAC secret (base64) every worker shares. */
  generatedSecret?: string;
}

export interface ThrottleParams { keys: ThrottleKey[] }

export interface NonceRecordParams { nonce: string; nc: number; issuedAt: number; expiresAt: number }
export type NonceRecordResult = NonceCountVerdict;

export interface ListeningParams { address: string; port: number }

export type ReadinessResult = Record<string, ReadinessCheck>;
