/** Readiness probe of the upstream: can a TCP connection be opened? Cached briefly so probes stay cheap. */
import { connect } from 'node:net';

export class UpstreamProbe {
  #last: { at: number; ok: boolean; detail?: string } | undefined;
  constructor(private readonly url: URL, private readonly timeoutMs = 1000, private readonly cacheMs = 2000) {}

  async check(): Promise<{ ok: boolean; detail?: string }> {
    const now = Date.now();
    if (this.#last && now - this.#last.at < this.cacheMs) return this.#last;
    const port = Number(this.url.port || (this.url.protocol === 'https:' ? 443 : 80));
    const host = this.url.hostname.replace(/^\[|\]$/g, '');
    const result = await new Promise<{ ok: boolean; detail?: string }>((resolve) => {
      const sock = connect({ host, port, timeout: this.timeoutMs });
      sock.once('connect', () => { sock.destroy(); resolve({ ok: true }); });
      sock.once('timeout', () => { sock.destroy(); resolve({ ok: false, detail: 'timeout' }); });
      sock.once('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, detail: e.code ?? 'error' }));
    });
    this.#last = { at: now, ...result };
    return result;
  }
}
