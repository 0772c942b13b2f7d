/**
 * A closed-loop load: `lanes` loops, each sending one request after the other until stopped, every outcome kept
 * with the time it was decided, so a test can look at what happened before, during and after a fault.
 */
export interface Sample {
  /** Date.now() when the request was sent. */
  sent: number;
  /** Date.now() when its outcome was known. */
  at: number;
  outcome: string;
}

export interface Load {
  readonly samples: readonly Sample[];
  /** Stops the lanes and resolves once every request in flight has settled. */
  stop(): Promise<readonly Sample[]>;
}

/** `send(lane, n)` resolves with a one-word outcome (`200`, `503 TG_ERR_…`); a rejection counts as `error`. */
export function startLoad(lanes: number, send: (lane: number, n: number) => Promise<string>): Load {
  const samples: Sample[] = [];
  let running = true;
  const lane = async (l: number): Promise<void> => {
    for (let n = 0; running; n++) {
      const sent = Date.now();
      const outcome = await send(l, n).catch((e: unknown) => `error ${(e as Error).message}`);
      samples.push({ sent, at: Date.now(), outcome });
    }
  };
  const done = Promise.all(Array.from({ length: lanes }, (_, l) => lane(l)));
  return {
    samples,
    stop: async () => { running = false; await done; return samples; },
  };
}

/** Outcomes counted: `{ '200': 812, '503 TG_ERR_STORE_UNAVAILABLE': 3 }`. */
export function tally(samples: readonly Sample[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) out[s.outcome] = (out[s.outcome] ?? 0) + 1;
  return out;
}

/** What {@link outcomeOf} reads of a fetch response (the global one's or undici's). */
interface FetchResponse {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** A fetch response in one word: its status, and the error code of a JSON error body. */
export async function outcomeOf(res: FetchResponse): Promise<string> {
  const text = await res.text();
  if (res.headers.get('content-type')?.startsWith('application/json') === true) {
    try {
      const body = JSON.parse(text) as { error?: unknown };
      if (typeof body.error === 'string') return `${res.status} ${body.error}`;
    } catch { /* not an error body */ }
  }
  return String(res.status);
}
