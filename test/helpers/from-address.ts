/**
 * HTTP requests from a chosen local address (127.0.0.x: Linux routes all of 127/8 to the loopback), so a test
 * can be several clients as trackgate sees them (the socket's address) without trusting X-Forwarded-For.
 */
import { Agent, request } from 'node:http';

const agents = new Map<string, Agent>();

export interface AddressedReply {
  status: number;
  body: string;
}

export function fromAddress(localAddress: string, url: string, opts: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string } = {}): Promise<AddressedReply> {
  let agent = agents.get(localAddress);
  // One keep-alive agent per address: its sockets are bound to that address (the option is per connection).
  if (agent === undefined) agents.set(localAddress, (agent = new Agent({ keepAlive: true, localAddress } as ConstructorParameters<typeof Agent>[0])));
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent, localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Closes every agent's idle sockets (after the file's tests). */
export async function closeAddressAgents(): Promise<void> {
  for (const a of agents.values()) a.destroy();
  agents.clear();
}
