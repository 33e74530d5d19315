// nftpol's transactions from table states: the full replacement (one atomic transaction that also clears
// whatever an earlier run left) and the incremental transaction between two states, as typed operations
// (operations.ts), written as nft syntax by write.ts. Every name comes from vocabulary.ts and every
// element from parsed addresses and numbers, so nothing a user wrote is ever pasted in.
import { denyLogDeclarations, type DenyLogOptions } from './denylog.js';
import { rule, Transaction, type ElementItem, type NftObject, type Rule } from './operations.js';
import { counterNames, isCounterMap, setDataTypes, type NftChain, type NftSet, type TableState } from './state.js';
import { strictRules } from './strict.js';
import { ADDR_TYPE, BASE_CHAIN, dispatchMapName, FAMILIES, IP_KEYWORD, mapSpec, MAPS, selfSetName, type Hook, type MapName } from './vocabulary.js';
import { writeScript } from './write.js';

/** Where nftpol hooks and why (see README "Dataplane"). */
export interface TableOptions {
  readonly table: string;
  /** The log chains policy chains jump to (see denylog.ts); absent when the log is off. */
  readonly denyLog?: DenyLogOptions;
  /** Strict mode: end the connections the agent marked (see strict.ts). */
  readonly strictMode?: boolean;
}

/** Set elements per `add element` command of an incremental transaction. */
const ELEMENTS_PER_COMMAND = 64;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += ELEMENTS_PER_COMMAND) out.push(items.slice(i, i + ELEMENTS_PER_COMMAND));
  return out;
}

const ND_TYPES = 'nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect';

/**
 * The base chains. `forward` at priority filter runs after kube-proxy's DNAT (dstnat) and before its
 * masquerade (srcnat): it sees the destination pod's address and port and the source pod's address.
 * Egress of a local pod is dispatched first and returns when allowed, so that a destination pod on the
 * same node still gets its ingress check. `input` covers a local pod talking to its own node (host
 * network addresses), where only the pod's egress applies. Node-originated traffic takes `output`, which
 * nftpol leaves alone: a pod's own node may always reach it.
 */
function baseChains(strictMode = false): readonly NftObject[] {
  // The same objects every time, so that their rules are validated once (see operations.ts).
  return (BASE_CHAINS[strictMode ? 1 : 0] ??= buildBaseChains(strictMode));
}
const BASE_CHAINS: [(readonly NftObject[])?, (readonly NftObject[])?] = [];

function buildBaseChains(strictMode: boolean): NftObject[] {
  const first = [...(strictMode ? strictRules().map((text) => rule(text)) : []), rule('ct state established,related accept'), rule(`icmpv6 type { ${ND_TYPES} } accept`)];
  const dispatch = (direction: 'ingress' | 'egress', field: 'saddr' | 'daddr'): Rule[] =>
    FAMILIES.map((f) => rule(`${IP_KEYWORD[f]} ${field} vmap @${dispatchMapName(direction, f)}`, { maps: [dispatchMapName(direction, f)] }));
  const hook = (name: Hook) => ({ type: 'filter', hook: name, priority: 'filter', policy: 'accept' }) as const;
  return [
    {
      kind: 'chain',
      name: BASE_CHAIN.forward,
      hook: hook(BASE_CHAIN.forward),
      rules: [
        ...first,
        // A pod can always reach itself (hairpin through a Service comes back through the node).
        ...FAMILIES.map((f) => rule(`${IP_KEYWORD[f]} saddr . ${IP_KEYWORD[f]} daddr @${selfSetName(f)} accept`, { sets: [selfSetName(f)] })),
        ...dispatch('egress', 'saddr'),
        ...dispatch('ingress', 'daddr'),
      ],
    },
    { kind: 'chain', name: BASE_CHAIN.input, hook: hook(BASE_CHAIN.input), rules: [...first, ...dispatch('egress', 'saddr')] },
  ];
}

/** `ip : jump chain` in a dispatch map, `ip : "counter"` in a counter map. */
function mapElement(map: MapName, key: string, value: string): ElementItem {
  return isCounterMap(map) ? { key, value: { counter: value } } : { key, value: { jump: value } };
}

function mapObject(map: MapName, elements?: ElementItem[]): NftObject {
  const spec = mapSpec(map);
  return { kind: 'map', name: map, key: ADDR_TYPE[spec.family], value: spec.value, ...(elements ? { elements } : {}) };
}

function setObject(set: NftSet, withElements: boolean): NftObject {
  return { kind: 'set', name: set.name, type: setDataTypes(set), interval: set.kind === 'interval', ...(withElements ? { elements: [...set.elements] } : {}) };
}

/** A chain's rules as typed rules; the same objects for the same chain, so each is validated once. */
function chainRules(chain: NftChain): readonly Rule[] {
  let rules = typedRules.get(chain);
  if (rules === undefined) typedRules.set(chain, (rules = chain.rules.map((text, i) => rule(text, chain.refs[i]))));
  return rules;
}
const typedRules = new WeakMap<NftChain, readonly Rule[]>();

function sorted<T>(items: Iterable<T>, key: (t: T) => string): T[] {
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * Replaces nftpol's table in one transaction: `add` makes sure it exists, `delete` drops it with anything
 * an earlier run left, and the block creates it again. The kernel applies all of it or nothing, so
 * packets see the old table or the new one, never none.
 */
export function fullTransaction(state: TableState, options: TableOptions): Transaction {
  const tx = new Transaction(options.table);
  tx.add({ kind: 'table' }).delete({ kind: 'table' }).add({ kind: 'table' });
  if (options.denyLog) for (const declaration of denyLogDeclarations(options.denyLog)) tx.add(declaration);
  for (const counter of [...counterNames(state)].sort()) tx.add({ kind: 'counter', name: counter });
  for (const set of sorted(state.sets.values(), (s) => s.name)) tx.add(setObject(set, true));
  for (const chain of sorted(state.chains.values(), (c) => c.name)) tx.add({ kind: 'chain', name: chain.name, rules: chainRules(chain) });
  for (const map of MAPS) tx.add(mapObject(map, sorted(state.maps[map], ([ip]) => ip).map(([ip, value]) => mapElement(map, ip, value))));
  for (const chain of baseChains(options.strictMode)) tx.add(chain);
  return tx;
}

export function renderFull(state: TableState, options: TableOptions): string {
  return writeScript(fullTransaction(state, options));
}

/** Elements added to and removed from a set that was updated in place. */
export interface SetDelta {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

function chainChanged(a: NftChain | undefined, b: NftChain): boolean {
  return a === undefined || a.rules.length !== b.rules.length || a.rules.some((r, i) => r !== b.rules[i]);
}

/**
 * The transaction that turns `from` into `to`: only added and removed elements, and changed chains. Objects
 * that are the same in memory are skipped without looking inside, which keeps a sync proportional to
 * what changed, except sets updated in place, whose `deltas` say what changed. Empty when nothing changed.
 * The order is the kernel's: objects exist before what refers to them, and references go before what
 * they referred to.
 */
export function diffTransaction(from: TableState, to: TableState, options: TableOptions, deltas: ReadonlyMap<string, SetDelta> = new Map()): Transaction {
  const tx = new Transaction(options.table);
  const oldCounters = counterNames(from);
  const newCounters = counterNames(to);
  for (const c of [...newCounters].sort()) if (!oldCounters.has(c)) tx.add({ kind: 'counter', name: c });
  for (const set of sorted(to.sets.values(), (s) => s.name)) {
    const old = from.sets.get(set.name);
    const delta = deltas.get(set.name);
    if (old === set && delta === undefined) continue;
    if (old === undefined) tx.add(setObject(set, false));
    const removed = delta ? delta.removed : old ? [...old.elements].filter((e) => !set.elements.has(e)) : [];
    const added = delta ? delta.added : old ? [...set.elements].filter((e) => !old.elements.has(e)) : [...set.elements];
    for (const chunk of chunks(removed)) tx.delete({ kind: 'element', target: set.name, items: chunk.map((key) => ({ key })) });
    for (const chunk of chunks(added)) tx.add({ kind: 'element', target: set.name, items: chunk.map((key) => ({ key })) });
  }
  for (const chain of sorted(to.chains.values(), (c) => c.name)) {
    const old = from.chains.get(chain.name);
    if (old === chain || !chainChanged(old, chain)) continue;
    if (old === undefined) tx.add({ kind: 'chain', name: chain.name });
    else tx.flush({ kind: 'chain', name: chain.name });
    for (const r of chainRules(chain)) tx.add({ kind: 'rule', chain: chain.name, rule: r });
  }
  for (const map of MAPS) {
    const before = from.maps[map];
    const after = to.maps[map];
    const gone = [...before].filter(([ip, value]) => after.get(ip) !== value).map(([ip]) => ({ key: ip }));
    const come = [...after].filter(([ip, value]) => before.get(ip) !== value).map(([ip, value]) => mapElement(map, ip, value));
    if (gone.length > 0) tx.delete({ kind: 'element', target: map, items: gone });
    if (come.length > 0) tx.add({ kind: 'element', target: map, items: come });
  }
  for (const name of [...from.chains.keys()].sort()) if (!to.chains.has(name)) tx.delete({ kind: 'chain', name });
  for (const name of [...from.sets.keys()].sort()) if (!to.sets.has(name)) tx.delete({ kind: 'set', name });
  for (const c of [...oldCounters].sort()) if (!newCounters.has(c)) tx.delete({ kind: 'counter', name: c });
  return tx;
}

export function renderDiff(from: TableState, to: TableState, options: TableOptions, deltas: ReadonlyMap<string, SetDelta> = new Map()): string {
  return writeScript(diffTransaction(from, to, options, deltas));
}

/** Removes nftpol's table and everything in it (uninstall). */
export function renderDeleteTable(table: string): string {
  return writeScript(new Transaction(table).delete({ kind: 'table' }));
}
