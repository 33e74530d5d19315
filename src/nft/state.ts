// nftpol's table as typed data: what the dataplane wants the kernel to hold, and what it committed last.
// Kept in memory so that an incremental sync is a diff of two of these, never a read-back of the kernel.

export type SetKind = 'addr' | 'interval' | 'tuple';

export interface NftSet {
  readonly name: string;
  readonly family: 'v4' | 'v6';
  /** addr: pod addresses; interval: ipBlock ranges; tuple: address . protocol . port. */
  readonly kind: SetKind;
  readonly elements: Set<string>;
}

export interface NftChain {
  readonly name: string;
  readonly rules: readonly string[];
  /** Names of the sets and counters the rules refer to (they must exist while the chain does). */
  readonly sets: readonly string[];
  readonly counters: readonly string[];
}

/** The four dispatch maps: local pod address -> that pod's chain for the direction. */
export const DISPATCH_MAPS = ['ingress-v4', 'ingress-v6', 'egress-v4', 'egress-v6'] as const;
export type DispatchMap = (typeof DISPATCH_MAPS)[number];

export interface TableState {
  readonly sets: Map<string, NftSet>;
  readonly chains: Map<string, NftChain>;
  readonly maps: Record<DispatchMap, Map<string, string>>;
}

export function emptyState(): TableState {
  return {
    sets: new Map(),
    chains: new Map(),
    maps: { 'ingress-v4': new Map(), 'ingress-v6': new Map(), 'egress-v4': new Map(), 'egress-v6': new Map() },
  };
}

export function setType(set: Pick<NftSet, 'family' | 'kind'>): string {
  const addr = set.family === 'v4' ? 'ipv4_addr' : 'ipv6_addr';
  return set.kind === 'tuple' ? `${addr} . inet_proto . inet_service` : addr;
}

/** Counters named by chains, for the metrics of denied packets. */
export function counterNames(state: TableState): Set<string> {
  const names = new Set<string>();
  for (const chain of state.chains.values()) for (const c of chain.counters) names.add(c);
  return names;
}
