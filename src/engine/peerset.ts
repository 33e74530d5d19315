// Peer sets: the address sets that policy rules refer to, shared by every rule with the same peer.
// A set is defined by content (its selector or CIDR, never by the policy that uses it), so two policies
// that allow "app=web in namespaces team=a" use one set, in the engine and in the kernel.
import { createHash } from 'node:crypto';
import type { Cidr } from '../model/ip.js';
import { cidrRange, familyOf, ipToBigInt, parseCidr } from '../model/ip.js';
import type { LabelSelector, Labels, Pod, Protocol } from '../model/types.js';
import { selectorKey, selectorMatches } from './selector.js';

/** Where a selector peer looks for pods: one namespace by name, or every namespace a selector matches. */
export type NamespaceScope =
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'selector'; readonly selector: LabelSelector };

export interface NamedPort {
  readonly name: string;
  readonly protocol: Protocol;
}

/**
 * What a set holds:
 * - `pods`: addresses of pods matching the scope and pod selector;
 * - `ipBlock`: a CIDR minus exceptions (static, no pods involved);
 * - with `port` set, the set holds `address . protocol . port` tuples instead: each matching pod's
 *   addresses with the number its own container port of that name has (egress named ports, which
 *   resolve against each destination pod). `all` = every pod (an egress rule with no `to`).
 */
export type PeerSetDef =
  | { readonly kind: 'pods'; readonly scope: NamespaceScope; readonly podSelector: LabelSelector; readonly port?: NamedPort }
  | { readonly kind: 'ipBlock'; readonly cidr: string; readonly except: readonly string[]; readonly port?: NamedPort }
  | { readonly kind: 'all'; readonly port: NamedPort };

export function peerSetKey(def: PeerSetDef): string {
  const port = def.port ? [def.port.name, def.port.protocol] : null;
  switch (def.kind) {
    case 'pods': {
      const scope = def.scope.kind === 'name' ? ['ns', def.scope.name] : ['nsSelector', selectorKey(def.scope.selector)];
      return JSON.stringify(['pods', scope, selectorKey(def.podSelector), port]);
    }
    case 'ipBlock':
      return JSON.stringify(['ipBlock', def.cidr, [...def.except].sort(), port]);
    case 'all':
      return JSON.stringify(['all', port]);
  }
}

/** A short, deterministic, nft-safe identifier ([a-z0-9]) derived from the set's content. */
export function peerSetId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/** True when the set's content depends on pods (so the engine keeps its members up to date). */
export function isPodDependent(def: PeerSetDef): boolean {
  return def.kind !== 'ipBlock' || def.port !== undefined;
}

/**
 * A parsed ipBlock for fast membership tests: the exceptions as sorted, merged integer ranges, so that a
 * pod event costs a binary search however many `except` entries a tenant writes.
 */
export interface CompiledBlock {
  readonly cidr: Cidr;
  readonly first: bigint;
  readonly last: bigint;
  /** Disjoint, ascending [first, last] ranges of the exceptions (all of the block's family). */
  readonly except: readonly (readonly [bigint, bigint])[];
}

export function compileBlock(cidr: string, except: readonly string[]): CompiledBlock {
  const parse = (text: string): Cidr => {
    const parsed = parseCidr(text);
    if (parsed === null) throw new Error(`internal: unparsable CIDR ${text} reached the engine`);
    return parsed;
  };
  const block = parse(cidr);
  const ranges = except.map((text) => cidrRange(parse(text))).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: [bigint, bigint][] = [];
  for (const [first, last] of ranges) {
    const previous = merged[merged.length - 1];
    if (previous !== undefined && first <= previous[1] + 1n) {
      if (last > previous[1]) previous[1] = last;
    } else {
      merged.push([first, last]);
    }
  }
  const [first, last] = cidrRange(block);
  return { cidr: block, first, last, except: merged };
}

export function blockContainsIp(block: CompiledBlock, ip: string): boolean {
  if (familyOf(ip) !== block.cidr.family) return false;
  const value = ipToBigInt(ip);
  if (value < block.first || value > block.last) return false;
  // The last exception range that starts at or before the address is the only one that can hold it.
  let low = 0;
  let high = block.except.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    const [first, last] = block.except[middle]!;
    if (value < first) high = middle - 1;
    else if (value > last) low = middle + 1;
    else return false;
  }
  return true;
}

export function resolveNamedPort(pod: Pod, port: NamedPort): number | null {
  for (const p of pod.ports) {
    if (p.name === port.name && p.protocol === port.protocol) return p.port;
  }
  return null;
}

/**
 * What one eligible pod contributes to a set, as a canonical string (addresses, then `|port` for tuple
 * sets), or null when it contributes nothing. Two evaluations are equal exactly when the pod's share of
 * the set's content is unchanged, which is how the engine reports precisely which sets changed.
 *
 * `ownedIps` are the addresses the pod really owns (see IpOwnership), `nsLabels` its namespace's labels.
 */
export function contribution(
  def: PeerSetDef,
  block: CompiledBlock | null,
  pod: Pod,
  ownedIps: readonly string[],
  nsLabels: Labels,
): string | null {
  if (ownedIps.length === 0) return null;
  let ips = ownedIps;
  switch (def.kind) {
    case 'pods':
      if (def.scope.kind === 'name' ? def.scope.name !== pod.namespace : !selectorMatches(def.scope.selector, nsLabels)) return null;
      if (!selectorMatches(def.podSelector, pod.labels)) return null;
      break;
    case 'ipBlock':
      if (block === null) return null;
      ips = ownedIps.filter((ip) => blockContainsIp(block, ip));
      if (ips.length === 0) return null;
      break;
    case 'all':
      break;
  }
  if (def.port === undefined) return ips.join(',');
  const number = resolveNamedPort(pod, def.port);
  return number === null ? null : `${ips.join(',')}|${number}`;
}

/** Parses a contribution string back into addresses and (for tuple sets) the port. */
export function parseContribution(value: string): { ips: string[]; port: number | null } {
  const bar = value.indexOf('|');
  const ips = (bar < 0 ? value : value.slice(0, bar)).split(',');
  return { ips, port: bar < 0 ? null : Number(value.slice(bar + 1)) };
}
