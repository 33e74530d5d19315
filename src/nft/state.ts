// nftpol's table as typed data: what the dataplane wants the kernel to hold, and what it committed last.
// Kept in memory so that an incremental sync is a diff of two of these, never a read-back of the kernel.
import type { ObjectKey } from '../model/types.js';

/** addr: pod addresses; interval: ipBlock ranges; tuple: address . protocol . port; pair: address . address. */
export type SetKind = 'addr' | 'interval' | 'tuple' | 'pair';

export interface NftSet {
  readonly name: string;
  readonly family: 'v4' | 'v6';
  readonly kind: SetKind;
  readonly elements: Set<string>;
}

/** A policy chain. Its name is a hash of its rules, so every local pod with the same allow-set shares it. */
export interface NftChain {
  readonly name: string;
  readonly rules: readonly string[];
  /** Names of the sets the rules refer to (they must exist while the chain does). */
  readonly sets: readonly string[];
}

/** Dispatch maps (local pod address -> jump to its policy chain) and deny counter maps (-> its counter). */
export const DISPATCH_MAPS = ['ingress-v4', 'ingress-v6', 'egress-v4', 'egress-v6'] as const;
export const COUNTER_MAPS = ['deny-in-v4', 'deny-in-v6', 'deny-out-v4', 'deny-out-v6'] as const;
export const MAPS = [...DISPATCH_MAPS, ...COUNTER_MAPS] as const;
export type DispatchMap = (typeof DISPATCH_MAPS)[number];
export type CounterMap = (typeof COUNTER_MAPS)[number];
export type MapName = (typeof MAPS)[number];

/** The sets of `address . address` pairs that let a local pod reach itself (hairpin through a Service). */
export const SELF_SETS = ['self-v4', 'self-v6'] as const;

export interface TableState {
  readonly sets: Map<string, NftSet>;
  readonly chains: Map<string, NftChain>;
  /** Key: a local pod's address; value: a chain name (dispatch) or a counter name (counter maps). */
  readonly maps: Record<MapName, Map<string, string>>;
  /** Bookkeeping, not rendered: the addresses each local pod has entries for. */
  readonly podAddresses: Map<ObjectKey, readonly string[]>;
}

export function isCounterMap(name: MapName): name is CounterMap {
  return (COUNTER_MAPS as readonly string[]).includes(name);
}

export function emptyState(): TableState {
  const maps = Object.fromEntries(MAPS.map((m) => [m, new Map<string, string>()])) as Record<MapName, Map<string, string>>;
  const sets = new Map<string, NftSet>();
  for (const name of SELF_SETS) sets.set(name, { name, family: name.endsWith('v4') ? 'v4' : 'v6', kind: 'pair', elements: new Set() });
  return { sets, chains: new Map(), maps, podAddresses: new Map() };
}

export function setType(set: Pick<NftSet, 'family' | 'kind'>): string {
  const addr = set.family === 'v4' ? 'ipv4_addr' : 'ipv6_addr';
  if (set.kind === 'tuple') return `${addr} . inet_proto . inet_service`;
  if (set.kind === 'pair') return `${addr} . ${addr}`;
  return addr;
}

/** The named deny counters: one per local pod and direction, found through the counter maps. */
export function counterNames(state: TableState): Set<string> {
  const names = new Set<string>();
  for (const map of COUNTER_MAPS) for (const name of state.maps[map].values()) names.add(name);
  return names;
}
