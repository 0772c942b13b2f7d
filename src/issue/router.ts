/** Exact-path routing of the enabled dialects' endpoints; a known path with another method → 405. */
import type { Dialect, IssueRoute } from './types.js';

export interface IssueMatch {
  dialect: Dialect;
  /** undefined when the path exists but not for this method. */
  route: IssueRoute | undefined;
  allow: string[];
}

export class IssueRouter {
  readonly #paths = new Map<string, { dialect: Dialect; methods: Map<string, IssueRoute> }>();

  /** `key`: how a route's path is keyed, the way requests' paths are (src/proxy/canonical-path.ts `pathKey`). */
  constructor(dialects: readonly Dialect[], key: (path: string) => string = (p) => p) {
    for (const d of dialects) {
      for (const r of d.routes) {
        let entry = this.#paths.get(key(r.path));
        if (entry === undefined) {
          entry = { dialect: d, methods: new Map() };
          this.#paths.set(key(r.path), entry);
        } else if (entry.methods.get(r.method) === r) {
          // The very same route object from two dialects (a shared endpoint, see refresh-route.ts): one endpoint.
          continue;
        } else if (entry.dialect !== d || entry.methods.has(r.method)) {
          throw new Error(`token endpoint ${r.method} ${r.path} is claimed by both ${entry.dialect.id} and ${d.id}: change one dialect's prefix`);
        }
        entry.methods.set(r.method, r);
      }
    }
  }

  get size(): number { return this.#paths.size; }

  /** `key`: the request's path key. */
  match(method: string, key: string): IssueMatch | undefined {
    const entry = this.#paths.get(key);
    if (entry === undefined) return undefined;
    const route = entry.methods.get(method === 'HEAD' ? 'GET' : method);
    return { dialect: entry.dialect, route, allow: [...entry.methods.keys()] };
  }
}
