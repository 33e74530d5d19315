// The engine's allow-sets as nftables objects: one chain per local pod and direction (bounded by the
// node's pods), dispatched by verdict maps keyed by the pod's addresses, and peer sets shared by every
// rule that uses them. No rule ever loops over pods: peers are set lookups, named ports are
// `address . protocol . port` tuple lookups.
import type { DirectionAllow, PodAllow, PortRange, ResolvedRule } from '../engine/allowset.js';
import type { PeerSetView } from '../engine/engine.js';
import type { PeerSetDef } from '../engine/peerset.js';
import { cidrText, parseCidr } from '../model/ip.js';
import type { Direction, ObjectKey, Protocol } from '../model/types.js';
import { denyLogJump, type DenyLogOptions } from './denylog.js';
import { blockRanges, rangeElement } from './intervals.js';
import { rule, type Rule, type RuleRefs } from './operations.js';
import { emptyState, type NftChain, type NftSet, type TableState } from './state.js';
import {
  counterMapName,
  denyCounterName,
  DIRECTIONS,
  DISPATCH_MAPS,
  dispatchMapName,
  FAMILIES,
  familyOfIp,
  familyOfModel,
  IP_KEYWORD,
  MAPS,
  ownField,
  parsePeerSetName,
  peerField,
  peerSetName,
  policyChainName,
  SELF_SETS,
  selfSetName,
  type AddressFamily,
  type DispatchMap,
} from './vocabulary.js';

export { denyCounterName } from './vocabulary.js';

export type DenyAction = 'drop' | 'reject';

/** What compiling reads of the engine: the local pods' allow-sets and the peer sets, typed. */
export interface AllowSource {
  localPods(): ReadonlyMap<ObjectKey, PodAllow>;
  peerSetDef(id: string): PeerSetDef | undefined;
  peerSet(id: string): PeerSetView | undefined;
}

export interface CompileOptions {
  readonly denyAction: DenyAction;
  /** Send the first packet of each denied connection to the agent's log (off when absent). */
  readonly denyLog?: DenyLogOptions;
}

type Fam = AddressFamily;
const NO_REFS: RuleRefs = {};

/** The peer set of one family, by the engine's id. */
export const setName = peerSetName;

/**
 * `x` for one item, `{ x, y }` for several. Braces make an anonymous set in the kernel, and every set,
 * anonymous ones included, makes each later `nft -f` slower (../shared/reference/nft-costs.md).
 */
function oneOrSet(items: readonly string[]): string {
  return items.length === 1 ? items[0]! : `{ ${items.join(', ')} }`;
}

const famOf = familyOfIp;

function portMatches(ports: 'all' | readonly PortRange[]): string[] | null {
  if (ports === 'all') return null;
  const byProtocol = new Map<Protocol, PortRange[]>();
  for (const range of ports) {
    const list = byProtocol.get(range.protocol) ?? [];
    list.push(range);
    byProtocol.set(range.protocol, list);
  }
  const out: string[] = [];
  for (const [protocol, ranges] of [...byProtocol].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const proto = protocol.toLowerCase();
    if (ranges.some((r) => r.from === 0 && r.to === 65535)) {
      out.push(`meta l4proto ${proto}`);
      continue;
    }
    const items = [...new Set(ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}-${r.to}`)))];
    out.push(`meta l4proto ${proto} th dport ${oneOrSet(items)}`);
  }
  return out;
}

/** The definition of a peer set by its id (the engine's), for peers that need no set. */
export type PeerDefs = (id: string) => PeerSetDef | undefined;

/**
 * An ipBlock without exceptions is one prefix, matched in the rule itself (`ip saddr 10.0.0.0/24`) rather
 * than through a named set: every named set makes each later `nft -f` slower for every tenant
 * (../shared/reference/nft-costs.md), and a tenant may write a thousand such peers in one policy.
 */
function inlinePrefix(def: PeerSetDef | undefined): { family: Fam; text: string } | null {
  if (def === undefined || def.kind !== 'ipBlock' || def.port !== undefined || def.except.length > 0) return null;
  // Remembered per definition (the engine's, immutable): every local pod a policy selects renders its rules.
  const known = inlinePrefixes.get(def);
  if (known !== undefined) return known;
  const cidr = parseCidr(def.cidr);
  const prefix = cidr === null ? null : { family: familyOfModel(cidr.family), text: cidrText(cidr) };
  inlinePrefixes.set(def, prefix);
  return prefix;
}
const inlinePrefixes = new WeakMap<PeerSetDef, { family: Fam; text: string } | null>();

/**
 * The rules of one resolved policy rule for the given families: only those of the local pod's own
 * addresses, since only packets of those families are dispatched to its chain.
 */
function ruleLines(policyRule: ResolvedRule, direction: Direction, verdict: string, families: readonly Fam[], sets: Set<string>, peerDefs: PeerDefs): Rule[] {
  const field = peerField(direction);
  const ports = portMatches(policyRule.ports);
  const lines: Rule[] = [];
  const withPorts = (peer: string, refs: RuleRefs = NO_REFS) => (ports === null ? [rule(`${peer}${verdict}`, refs)] : ports.map((p) => rule(`${peer}${p} ${verdict}`, refs)));
  if (policyRule.peers === 'all') {
    lines.push(...withPorts(''));
  } else if (ports === null || ports.length > 0) {
    // A rule whose ports resolved to none (a named port the local pod does not have) allows nothing: it
    // gets no lines, and must not name its peer sets either, or the chain would keep a set alive that
    // no rule uses and that the engine may already have dropped.
    for (const id of policyRule.peers) {
      const prefix = inlinePrefix(peerDefs(id));
      for (const fam of families) {
        if (prefix !== null) {
          // A prefix of the other family matches nothing here, as its empty set would.
          if (prefix.family === fam) lines.push(...withPorts(`${IP_KEYWORD[fam]} ${field} ${prefix.text} `));
          continue;
        }
        const name = setName(id, fam);
        sets.add(name);
        lines.push(...withPorts(`${IP_KEYWORD[fam]} ${field} @${name} `, { sets: [name] }));
      }
    }
  }
  for (const id of policyRule.namedPortSets) {
    for (const fam of families) {
      const name = setName(id, fam);
      sets.add(name);
      lines.push(rule(`${IP_KEYWORD[fam]} ${field} . meta l4proto . th dport @${name} ${verdict}`, { sets: [name] }));
    }
  }
  return lines;
}

/**
 * The policy chain for one local pod's traffic in one direction, or null when the pod is not isolated
 * that way. Its rules depend only on the pod's allow-set (not on its name or addresses), and its name
 * is a hash of them, so local pods with the same policies share one chain: the chain count follows the
 * number of distinct allow-sets on the node, not the number of pods.
 */
export function policyChain(allow: PodAllow, direction: Direction, options: CompileOptions, peerDefs: PeerDefs): NftChain | null {
  const d: DirectionAllow = allow[direction];
  if (!d.isolated || allow.ips.length === 0) return null;
  // Egress that is allowed returns to the base chain, so that a destination pod on this node still gets
  // its ingress check; ingress that is allowed is accepted.
  const verdict = direction === 'egress' ? 'return' : 'accept';
  const sets = new Set<string>();
  const lines: Rule[] = [];
  const families = FAMILIES.filter((fam) => allow.ips.some((ip) => famOf(ip) === fam));
  for (const policyRule of d.rules) for (const line of ruleLines(policyRule, direction, verdict, families, sets, peerDefs)) lines.push(line);
  // Count the denied packet against the local pod (its address picks its counter), then deny it.
  const own = ownField(direction);
  if (options.denyLog) lines.push(denyLogJump(direction));
  for (const fam of families) {
    const map = counterMapName(direction, fam);
    lines.push(rule(`counter name ${IP_KEYWORD[fam]} ${own} map @${map}`, { maps: [map] }));
  }
  if (options.denyAction === 'reject') lines.push(rule('meta l4proto tcp reject with tcp reset'), rule('reject with icmpx admin-prohibited'));
  else lines.push(rule('drop'));
  // Two peers can write the same line (the same prefix twice): one is enough.
  const unique = new Map<string, Rule>();
  for (const line of lines) if (!unique.has(line.text)) unique.set(line.text, line);
  const rules = [...unique.keys()];
  return { name: policyChainName(direction, rules), rules, refs: [...unique.values()].map((r) => r.refs), sets: [...sets].sort() };
}

/** The current content of a peer set of one family, as nft elements. */
export function setContent(engine: AllowSource, name: string): NftSet | null {
  const parsed = parseSetName(name);
  const view = parsed ? engine.peerSet(parsed.id) : undefined;
  if (!parsed || !view) return null;
  const family = parsed.family;
  const elements = new Set<string>();
  if (view.def.kind === 'ipBlock' && view.def.port === undefined) {
    for (const range of blockRanges(view.def.cidr, view.def.except)) {
      if (familyOfModel(range.family) === family) elements.add(rangeElement(range));
    }
    return { name, family, kind: 'interval', elements };
  }
  const protocol = view.def.port?.protocol.toLowerCase();
  for (const member of view.members.values()) for (const e of memberElements(member, family, protocol)) elements.add(e);
  return { name, family, kind: protocol === undefined ? 'addr' : 'tuple', elements };
}

/** The elements one member puts into a set of one family: addresses, or `address . protocol . port`. */
export function memberElements(member: { readonly ips: readonly string[]; readonly port: number | null }, family: Fam, protocol: string | undefined): string[] {
  const ips = member.ips.filter((ip) => famOf(ip) === family);
  return protocol === undefined ? ips : ips.map((ip) => `${ip} . ${protocol} . ${member.port}`);
}

/** Parses a set name made by setName. */
export const parseSetName = parsePeerSetName;

export function dispatchMap(direction: Direction, ip: string): DispatchMap {
  return dispatchMapName(direction, famOf(ip));
}

function pair(ip: string): string {
  return `${ip} . ${ip}`;
}

/** Puts one local pod's dispatch entries, counters and chains into a state. */
export function addPod(state: TableState, allow: PodAllow, options: CompileOptions, peerDefs: PeerDefs): void {
  let isolated = false;
  for (const direction of DIRECTIONS) {
    const chain = policyChain(allow, direction, options, peerDefs);
    if (!chain) continue;
    isolated = true;
    // Keep the object already there: same name, same rules, and identity tells renderDiff to skip it.
    if (!state.chains.has(chain.name)) state.chains.set(chain.name, chain);
    for (const ip of allow.ips) {
      state.maps[dispatchMap(direction, ip)].set(ip, chain.name);
      state.maps[counterMapName(direction, famOf(ip))].set(ip, denyCounterName(direction, allow.pod));
    }
  }
  if (!isolated) return;
  state.podAddresses.set(allow.pod, allow.ips);
  // A pod can always reach itself, also through a Service that sends it back through the node.
  for (const ip of allow.ips) replaceSet(state, selfSetName(famOf(ip)), (elements) => elements.add(pair(ip)));
}

/** Removes one local pod's entries (by the addresses it had), leaving chains and sets to pruneUnused. */
export function removePod(state: TableState, pod: ObjectKey): void {
  const ips = state.podAddresses.get(pod);
  if (!ips) return;
  state.podAddresses.delete(pod);
  for (const map of MAPS) for (const ip of ips) state.maps[map].delete(ip);
  for (const ip of ips) replaceSet(state, selfSetName(famOf(ip)), (elements) => elements.delete(pair(ip)));
}

/** Copy-on-write for the small self sets, so that the committed state stays as it was. */
function replaceSet(state: TableState, name: string, change: (elements: Set<string>) => void): void {
  const set = state.sets.get(name)!;
  const elements = new Set(set.elements);
  change(elements);
  state.sets.set(name, { ...set, elements });
}

/** Drops chains no dispatch entry jumps to and peer sets no remaining chain refers to. */
export function pruneUnused(state: TableState): void {
  const chains = new Set<string>();
  for (const map of DISPATCH_MAPS) for (const chain of state.maps[map].values()) chains.add(chain);
  for (const name of state.chains.keys()) if (!chains.has(name)) state.chains.delete(name);
  const sets = new Set<string>(SELF_SETS);
  for (const chain of state.chains.values()) for (const name of chain.sets) sets.add(name);
  for (const name of state.sets.keys()) if (!sets.has(name)) state.sets.delete(name);
}

/** Adds every set the state's chains refer to that it does not hold yet. */
export function fillSets(state: TableState, engine: AllowSource): void {
  for (const chain of state.chains.values()) {
    for (const name of chain.sets) {
      if (state.sets.has(name)) continue;
      const set = setContent(engine, name);
      if (!set) throw new Error(`internal: chain ${chain.name} refers to unknown set ${name}`);
      state.sets.set(name, set);
    }
  }
}

/** The whole desired table for the engine's local pods. */
export function compileTable(engine: AllowSource, options: CompileOptions): TableState {
  const state = emptyState();
  const peerDefs: PeerDefs = (id) => engine.peerSetDef(id);
  for (const allow of engine.localPods().values()) addPod(state, allow, options, peerDefs);
  fillSets(state, engine);
  return state;
}
