/**
 * The call the `remote` form makes: the client's credential headers, sent to a legacy service's check
 * endpoint over one undici keep-alive Pool, with a hard timeout. Only the status and response headers are
 * used; the body is drained (bounded) so the connection can be reused. Redirects are never followed.
 */
import { Pool } from 'undici';
import { failureKind, describeError, sourcePoolOptions, type SourceFailure } from './http-source.js';

export interface RemoteCheckOptions {
  readonly url: string;
  readonly method: 'GET' | 'POST' | 'HEAD';
  readonly timeoutMs: number;
  readonly connections: number;
}

/** A transport failure (no status): network error or timeout. */
export class RemoteCheckError extends Error {
  constructor(readonly kind: SourceFailure, readonly detail: string, cause: unknown) {
    super(`remote check ${kind}: ${detail}`, { cause });
    this.name = 'RemoteCheckError';
  }
}

/** Bytes of a check response body read before the connection is given up instead of reused. */
const DRAIN_LIMIT = 64 * 1024;

export class RemoteChecker {
  readonly #pool: Pool;
  readonly #path: string;

  constructor(private readonly opts: RemoteCheckOptions) {
    const url = new URL(opts.url);
    this.#path = `${url.pathname}${url.search}`;
    this.#pool = new Pool(url.origin, sourcePoolOptions(opts.connections, opts.timeoutMs));
  }

  /** Sends the check; resolves with the status and headers, or throws {@link RemoteCheckError}. */
  async check(headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
    try {
      const res = await this.#pool.request({
        path: this.#path, method: this.opts.method, headers: { ...headers, accept: '*/*' },
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      await res.body.dump({ limit: DRAIN_LIMIT }).catch(() => undefined);
      return { status: res.statusCode, headers: res.headers };
    } catch (err) {
      throw new RemoteCheckError(failureKind(err), describeError(err), err);
    }
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
