// Peer sets: the address sets that policy rules refer to, shared by every rule with the same peer.
// A set is defined by content (its selector or CIDR, never by the policy that uses it), so two policies
// that allow "app=web in namespaces team=a" use one set, in the engine and in the kernel.
import { createHash } from 'node:crypto';
import type { Cidr } from '../model/ip.js';
import { cidrContainsIp, parseCidr } from '../model/ip.js';
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

/** A parsed ipBlock for fast membership tests. */
export interface CompiledBlock {
  readonly cidr: Cidr;
  readonly except: readonly Cidr[];
}

export function compileBlock(cidr: string, except: readonly string[]): CompiledBlock {
  const parse = (text: string): Cidr => {
    const parsed = parseCidr(text);
    if (parsed === null) throw new Error(`internal: unparsable CIDR ${text} reached the engine`);
    return parsed;
  };
  return { cidr: parse(cidr), except: except.map(parse) };
}

export function blockContainsIp(block: CompiledBlock, ip: string): boolean {
  return cidrContainsIp(block.cidr, ip) && !block.except.some((e) => cidrContainsIp(e, ip));
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
