// nftpol's table as typed data: what the dataplane wants the kernel to hold, and what it committed last.
// Kept in memory so that an incremental sync is a diff of two of these, never a read-back of the kernel.
import type { ObjectKey } from '../model/types.js';
import type { DataType, RuleRefs } from './operations.js';
import { ADDR_TYPE, COUNTER_MAPS, FAMILIES, MAPS, mapSpec, selfSetName, type AddressFamily, type CounterMap, type MapName } from './vocabulary.js';

export { COUNTER_MAPS, DISPATCH_MAPS, MAPS, SELF_SETS, type CounterMap, type DispatchMap, type MapName } from './vocabulary.js';

/** addr: pod addresses; interval: ipBlock ranges; tuple: address . protocol . port; pair: address . address. */
export type SetKind = 'addr' | 'interval' | 'tuple' | 'pair';

export interface NftSet {
  readonly name: string;
  readonly family: AddressFamily;
  readonly kind: SetKind;
  readonly elements: Set<string>;
}

/** A policy chain. Its name is a hash of its rules, so every local pod with the same allow-set shares it. */
export interface NftChain {
  readonly name: string;
  readonly rules: readonly string[];
  /** What each rule refers to: refs[i] belongs to rules[i] (see operations.ts). */
  readonly refs: readonly RuleRefs[];
  /** Names of the sets the rules refer to (they must exist while the chain does). */
  readonly sets: readonly string[];
}

export interface TableState {
  readonly sets: Map<string, NftSet>;
  readonly chains: Map<string, NftChain>;
  /** Key: a local pod's address; value: a chain name (dispatch) or a counter name (counter maps). */
  readonly maps: Record<MapName, Map<string, string>>;
  /** Bookkeeping, not rendered: the addresses each local pod has entries for. */
  readonly podAddresses: Map<ObjectKey, readonly string[]>;
}

export function isCounterMap(name: MapName): name is CounterMap {
  return mapSpec(name).value === 'counter';
}

export function emptyState(): TableState {
  const maps = Object.fromEntries(MAPS.map((m) => [m, new Map<string, string>()])) as Record<MapName, Map<string, string>>;
  const sets = new Map<string, NftSet>();
  for (const family of FAMILIES) sets.set(selfSetName(family), { name: selfSetName(family), family, kind: 'pair', elements: new Set() });
  return { sets, chains: new Map(), maps, podAddresses: new Map() };
}

/** The components of a set's type (a concatenation for tuples and pairs). */
export function setDataTypes(set: Pick<NftSet, 'family' | 'kind'>): DataType[] {
  const addr = ADDR_TYPE[set.family];
  if (set.kind === 'tuple') return [addr, 'inet_proto', 'inet_service'];
  if (set.kind === 'pair') return [addr, addr];
  return [addr];
}

export function setType(set: Pick<NftSet, 'family' | 'kind'>): string {
  return setDataTypes(set).join(' . ');
}

/** The named deny counters: one per local pod and direction, found through the counter maps. */
export function counterNames(state: TableState): Set<string> {
  const names = new Set<string>();
  for (const map of COUNTER_MAPS) for (const name of state.maps[map].values()) names.add(name);
  return names;
}
