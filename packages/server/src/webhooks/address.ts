import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { LicensorError } from '@licensor/shared';

/**
 * SSRF guard for webhook destinations. Every address a host name resolves to must be public; the request is
 * then made to exactly the address checked (no second resolution a DNS-rebinding server could answer
 * differently), and redirects are never followed.
 */

// Two lists: a BlockList checks an IPv4 address against its IPv6 rules too (as ::ffff:a.b.c.d), so the IPv6
// rules that refuse every IPv4-mapped address would otherwise refuse every IPv4 address.
const blocked = new BlockList();
const blocked6 = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  blocked.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  // IPv6 forms that carry an IPv4 address, so that a host can reach an IPv4 network through them: refused as a
  // whole, whatever IPv4 address they carry (a receiver on IPv4 is reached by its IPv4 address or an A record).
  ['::', 96], // IPv4-compatible (::a.b.c.d), deprecated
  ['::ffff:0:0', 96], // IPv4-mapped (::ffff:a.b.c.d)
  ['::ffff:0:0:0', 96], // IPv4-translated (SIIT)
  ['64:ff9b::', 96], // NAT64, well-known prefix
  ['64:ff9b:1::', 48], // NAT64, local-use prefixes
  ['2001::', 32], // Teredo (an IPv4 server and an obfuscated IPv4 client inside)
  ['2002::', 16], // 6to4 (an IPv4 address in bits 16-47)
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10],
  ['ff00::', 8], // multicast
] as const) {
  blocked6.addSubnet(net, prefix, 'ipv6');
}

/** Whether an IP address is private, loopback, link-local, reserved or otherwise not on the public internet. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return blocked.check(address, 'ipv4');
  // BlockList parses every spelling of an IPv6 address (expanded, compressed, dotted tail) the same way.
  if (family === 6) return blocked6.check(address, 'ipv6');
  return true; // not an IP address at all: never treat it as public
}

export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;

export const systemResolver: Resolver = (host) => lookup(host, { all: true, verbatim: true });

/**
 * Resolves a destination host and returns the address to connect to. Refuses (permanently: retrying cannot
 * help) when any resolved address is private, unless private destinations are allowed.
 */
export async function resolveDestination(
  host: string,
  opts: { allowPrivate: boolean; resolve?: Resolver },
): Promise<{ address: string; family: number }> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  const addresses = isIP(bare) ? [{ address: bare, family: isIP(bare) }] : await (opts.resolve ?? systemResolver)(bare);
  if (addresses.length === 0) throw new LicensorError('SERVER_UNREACHABLE', `${host} does not resolve`);
  if (!opts.allowPrivate) {
    const inside = addresses.filter((a) => isPrivateAddress(a.address));
    if (inside.length > 0) {
      throw new LicensorError(
        'FORBIDDEN',
        `${host} resolves to ${inside.map((a) => a.address).join(', ')}, a private or loopback address: webhooks ` +
          'go only to public addresses unless LICENSOR_WEBHOOK_ALLOW_PRIVATE=on',
      );
    }
  }
  return addresses[0]!;
}
