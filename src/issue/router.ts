/**
 * Exact-path routing of the enabled dialects' endpoints; a known path with another method → 405. The router
 * also collects the dialects' refresh capabilities and serves the shared refresh endpoint at each declared path.
 */
import type { RefreshRotation } from './refresh.js';
import { isRefreshing, SharedRefresh } from './shared-refresh.js';
import type { Dialect, IssueRequest, IssueRoute } from './types.js';
import { samplePair } from './sample-pair.js';

export interface IssueMatch {
  dialect: Dialect;
  /** undefined when the path exists but not for this method. */
  route: IssueRoute | undefined;
  allow: string[];
}

export class IssueRouter {
  readonly #paths = new Map<string, { dialect: Dialect; methods: Map<string, IssueRoute> }>();

  /**
   * `rotation`: what the shared refresh endpoint rotates with. `key`: how a route's path is keyed, the way
   * requests' paths are (src/authn/canonical-path.ts `pathKey`).
   */
  constructor(dialects: readonly Dialect[], rotation: RefreshRotation, key: (path: string) => string = (p) => p) {
    for (const d of dialects) {
      for (const r of d.routes) this.#add(d, r, key(r.path));
    }
    const declarants = dialects.filter(isRefreshing);
    if (declarants.length === 0) return;
    const shared = new SharedRefresh(declarants, rotation);
    const sharedAt = new Set<string>();
    for (const d of declarants) {
      const k = key(d.refresh.path);
      // Dialects declaring one path share one endpoint (its first declarant owns it); any other double claim is refused.
      if (sharedAt.has(k)) continue;
      sharedAt.add(k);
      const sharers = declarants.filter((o) => key(o.refresh.path) === k);
      const doc = {
        summary: `Refresh-token rotation, answered in the issuing dialect's shape (${sharers.map((o) => o.id).join(', ')}).`,
        fields: Object.fromEntries(sharers.flatMap((o) => o.refresh.fields).map((f) => [f, false])),
        // The first declarant's shape; each sharer answers in its own (their summaries say which).
        sample: (req: IssueRequest) => d.refresh.renderPair(samplePair(Date.now()), req).body,
      };
      this.#add(d, { method: 'POST', path: d.refresh.path, handle: shared.handle, doc }, k);
    }
  }

  #add(d: Dialect, r: IssueRoute, k: string): void {
    let entry = this.#paths.get(k);
    if (entry === undefined) {
      entry = { dialect: d, methods: new Map() };
      this.#paths.set(k, entry);
    } else if (entry.dialect !== d || entry.methods.has(r.method)) {
      throw new Error(`token endpoint ${r.method} ${r.path} is claimed by both ${entry.dialect.id} and ${d.id}: change one dialect's prefix`);
    }
    entry.methods.set(r.method, r);
  }

  get size(): number { return this.#paths.size; }

  /** Every endpoint served: its dialect and route (the OpenAPI document is generated from these). */
  *routes(): Generator<{ dialect: Dialect; route: IssueRoute }> {
    for (const { dialect, methods } of this.#paths.values()) for (const route of methods.values()) yield { dialect, route };
  }

  /** `key`: the request's path key. */
  match(method: string, key: string): IssueMatch | undefined {
    const entry = this.#paths.get(key);
    if (entry === undefined) return undefined;
    const route = entry.methods.get(method === 'HEAD' ? 'GET' : method);
    return { dialect: entry.dialect, route, allow: [...entry.methods.keys()] };
  }
}
