// IP address and CIDR arithmetic for both families, on top of ipaddr.js (the one dependency that covers
// IPv4 and IPv6 alike; netmask is IPv4 only).
import ipaddr from 'ipaddr.js';
import type { Family } from './types.js';

export interface Cidr {
  readonly family: Family;
  /** Canonical text of the network address (host bits cleared). */
  readonly address: string;
  readonly prefix: number;
}

/** The family of a plain address (no zone, no prefix), or null when `ip` is not one. */
export function familyOf(ip: string): Family | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return 'IPv4';
  // ipaddr.js accepts a zone (`fe80::1%eth0`); nft does not, and a zone is no part of a pod's address.
  if (ipaddr.IPv6.isValid(ip) && !ip.includes('/') && !ip.includes('%')) return 'IPv6';
  return null;
}

/** Canonical text form of an address (RFC 5952 for IPv6), or null when it is not an address. */
export function canonicalIp(ip: string): string | null {
  const family = familyOf(ip);
  if (family === null) return null;
  return ipaddr.parse(ip).toString();
}

/**
 * Parses `a.b.c.d/n` or `x::/n`. Host bits are cleared, as the API server's own parsing does: the upstream
 * e2e suite writes `<podIP>/4` unmasked and expects the /4 network.
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return null;
  const family = familyOf(address);
  if (family === null) return null;
  const prefix = Number(prefixText);
  if (prefix > (family === 'IPv4' ? 32 : 128)) return null;
  const network =
    family === 'IPv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(`${address}/${prefix}`)
      : ipaddr.IPv6.networkAddressFromCIDR(`${address}/${prefix}`);
  return { family, address: network.toString(), prefix };
}

export function cidrText(cidr: Cidr): string {
  return `${cidr.address}/${cidr.prefix}`;
}

/** The address as one big integer, for ordering and range arithmetic. */
export function ipToBigInt(ip: string): bigint {
  const bytes = ipaddr.parse(ip).toByteArray();
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

/** The inverse of ipToBigInt. */
export function bigIntToIp(value: bigint, family: Family): string {
  const bytes: number[] = new Array<number>(family === 'IPv4' ? 4 : 16);
  let rest = value;
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = Number(rest & 255n);
    rest >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

function bitsOf(family: Family): bigint {
  return family === 'IPv4' ? 32n : 128n;
}

/** First and last address of the CIDR as integers. */
export function cidrRange(cidr: Cidr): [bigint, bigint] {
  const start = ipToBigInt(cidr.address);
  const size = 1n << (bitsOf(cidr.family) - BigInt(cidr.prefix));
  return [start, start + size - 1n];
}

export function cidrContainsIp(cidr: Cidr, ip: string): boolean {
  if (familyOf(ip) !== cidr.family) return false;
  const value = ipToBigInt(ip);
  const [first, last] = cidrRange(cidr);
  return value >= first && value <= last;
}

/** True when `inner` lies inside `outer` (same family, longer or equal prefix). */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || inner.prefix < outer.prefix) return false;
  return cidrContainsIp(outer, inner.address);
}
