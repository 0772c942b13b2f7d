/**
 * Whose forwarding headers trackgate believes: only those of a peer in `proxy.trustedProxies` (addresses and
 * CIDR ranges; empty by default, so every client's X-Forwarded-* and Forwarded are replaced).
 *
 * Behind a trusted proxy, the client address is the right-most X-Forwarded-For entry that is not itself a
 * trusted proxy (what every proxy in the chain appended; entries further left are whatever the client wrote).
 * That address is the one the throttle counts per client and the access log shows.
 */
import { BlockList, isIP } from 'node:net';

/** `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `v6/n`. */
export function isAddressOrCidr(value: string): boolean {
  const slash = value.indexOf('/');
  const addr = slash < 0 ? value : value.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) return false;
  if (slash < 0) return true;
  const bits = value.slice(slash + 1);
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

/**
 * An X-Forwarded-For entry as an address: trimmed, without a port (`a.b.c.d:p`, `[v6]:p`, as some proxies
 * write it); undefined when it is not an address (`unknown`, an obfuscated identifier, garbage).
 */
function entryAddress(entry: string): string | undefined {
  let e = entry.trim();
  if (e.startsWith('[')) {
    const close = e.indexOf(']');
    e = close < 0 ? '' : e.slice(1, close);
  } else if (e.indexOf(':') > 0 && e.indexOf(':') === e.lastIndexOf(':')) {
    e = e.slice(0, e.indexOf(':'));
  }
  return isIP(e) === 0 ? undefined : e;
}

export class TrustedProxies {
  readonly #list: BlockList | undefined;

  /**
   * @param trustForwardedProto a narrower switch: believe X-Forwarded-Proto from any peer (only where
   *   nothing but a TLS-terminating proxy can reach trackgate). A trusted proxy's is believed regardless.
   */
  constructor(ranges: readonly string[], readonly trustForwardedProto: boolean) {
    if (ranges.length === 0) return;
    const list = new BlockList();
    for (const r of ranges) {
      const [addr, bits] = r.split('/') as [string, string | undefined];
      const type = isIP(addr) === 4 ? 'ipv4' : 'ipv6';
      if (bits === undefined) list.addAddress(addr, type);
      else list.addSubnet(addr, Number(bits), type);
    }
    this.#list = list;
  }

  /** Whether `address` (a socket peer or an X-Forwarded-For entry) is a trusted proxy. */
  trusts(address: string): boolean {
    const list = this.#list;
    if (list === undefined || address === '') return false;
    const family = isIP(address);
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * The client address of a request from the trusted peer `peer`: the right-most untrusted entry of
   * `forwardedFor`. An entry that is not an address ends the walk (nothing left of it can be attributed), and
   * the address right of it is used; with every entry trusted, the left-most one.
   */
  clientAddress(peer: string, forwardedFor: string | undefined): string {
    if (forwardedFor === undefined) return peer;
    const entries = forwardedFor.split(',');
    let client = peer;
    for (let i = entries.length - 1; i >= 0; i--) {
      const addr = entryAddress(entries[i]!);
      if (addr === undefined) break;
      client = addr;
      if (!this.trusts(addr)) break;
    }
    return client;
  }
}
