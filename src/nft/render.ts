// nft scripts from table states: the full replacement (one atomic transaction that also clears whatever an
// earlier run left) and the incremental transaction between two states. Every name in a script comes from
// names.ts or compile.ts and every element from parsed addresses and numbers, so nothing a user wrote is
// ever pasted in.
import { denyLogObjects, type DenyLogOptions } from './denylog.js';
import { strictRules } from './strict.js';
import { counterNames, isCounterMap, setType, type NftChain, type NftSet, type TableState } from './state.js';
import { ADDR_TYPE, BASE_CHAIN, dispatchMapName, FAMILIES, IP_KEYWORD, MAPS, mapSpec, selfSetName, TABLE_FAMILY, tableRef, type MapName } from './vocabulary.js';

/** Where nftpol hooks and why (see README "Dataplane"). */
export interface TableOptions {
  readonly table: string;
  /** The log chains policy chains jump to (see denylog.ts); absent when the log is off. */
  readonly denyLog?: DenyLogOptions;
  /** Strict mode: end the connections the agent marked (see strict.ts). */
  readonly strictMode?: boolean;
}

const ELEMENTS_PER_LINE = 64;

function elementLines(elements: Iterable<string>, indent: string): string[] {
  const all = [...elements];
  const lines: string[] = [];
  for (let i = 0; i < all.length; i += ELEMENTS_PER_LINE) lines.push(indent + all.slice(i, i + ELEMENTS_PER_LINE).join(', '));
  return lines;
}

function setDeclaration(set: NftSet): string {
  return `type ${setType(set)};${set.kind === 'interval' ? ' flags interval;' : ''}`;
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
function baseChains(strictMode = false): string[] {
  const first = [...(strictMode ? strictRules() : []), 'ct state established,related accept', `icmpv6 type { ${ND_TYPES} } accept`];
  const egress = FAMILIES.map((f) => `${IP_KEYWORD[f]} saddr vmap @${dispatchMapName('egress', f)}`);
  return [
    `  chain ${BASE_CHAIN.forward} {`,
    '    type filter hook forward priority filter; policy accept;',
    ...[
      ...first,
      // A pod can always reach itself (hairpin through a Service comes back through the node).
      ...FAMILIES.map((f) => `${IP_KEYWORD[f]} saddr . ${IP_KEYWORD[f]} daddr @${selfSetName(f)} accept`),
      ...egress,
      ...FAMILIES.map((f) => `${IP_KEYWORD[f]} daddr vmap @${dispatchMapName('ingress', f)}`),
    ].map((r) => `    ${r}`),
    '  }',
    `  chain ${BASE_CHAIN.input} {`,
    '    type filter hook input priority filter; policy accept;',
    ...[...first, ...egress].map((r) => `    ${r}`),
    '  }',
  ];
}

function mapType(name: MapName): string {
  const spec = mapSpec(name);
  return `${ADDR_TYPE[spec.family]} : ${spec.value}`;
}

/** `ip : jump chain` in a dispatch map, `ip : "counter"` in a counter map. */
function mapElement(map: MapName, key: string, value: string): string {
  return isCounterMap(map) ? `${key} : "${value}"` : `${key} : jump ${value}`;
}

function sorted<T>(items: Iterable<T>, key: (t: T) => string): T[] {
  return [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * Replaces nftpol's table in one transaction: `add` makes sure it exists, `delete` drops it with anything
 * an earlier run left, and the block creates it again. The kernel applies all of it or nothing, so
 * packets see the old table or the new one, never none.
 */
export function renderFull(state: TableState, options: TableOptions): string {
  const t = options.table;
  const lines = [`add table ${TABLE_FAMILY} ${t}`, `delete table ${TABLE_FAMILY} ${t}`, `table ${TABLE_FAMILY} ${t} {`];
  if (options.denyLog) lines.push(...denyLogObjects(options.denyLog));
  for (const counter of [...counterNames(state)].sort()) lines.push(`  counter ${counter} { }`);
  for (const set of sorted(state.sets.values(), (s) => s.name)) {
    if (set.elements.size === 0) {
      lines.push(`  set ${set.name} { ${setDeclaration(set)} }`);
    } else {
      lines.push(`  set ${set.name} {`, `    ${setDeclaration(set)}`, '    elements = {', ...elementLines(set.elements, '      ').map((l, i, a) => (i < a.length - 1 ? `${l},` : l)), '    }', '  }');
    }
  }
  for (const chain of sorted(state.chains.values(), (c) => c.name)) {
    lines.push(`  chain ${chain.name} {`, ...chain.rules.map((r) => `    ${r}`), '  }');
  }
  for (const map of MAPS) {
    const entries = sorted(state.maps[map], ([ip]) => ip).map(([ip, value]) => mapElement(map, ip, value));
    if (entries.length === 0) lines.push(`  map ${map} { type ${mapType(map)}; }`);
    else lines.push(`  map ${map} {`, `    type ${mapType(map)};`, '    elements = {', ...elementLines(entries, '      ').map((l, i, a) => (i < a.length - 1 ? `${l},` : l)), '    }', '  }');
  }
  lines.push(...baseChains(options.strictMode), '}');
  return lines.join('\n') + '\n';
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
 */
export function renderDiff(from: TableState, to: TableState, options: TableOptions, deltas: ReadonlyMap<string, SetDelta> = new Map()): string {
  const t = options.table;
  const lines: string[] = [];
  const oldCounters = counterNames(from);
  const newCounters = counterNames(to);
  for (const c of [...newCounters].sort()) if (!oldCounters.has(c)) lines.push(`add counter ${TABLE_FAMILY} ${t} ${c}`);
  for (const set of sorted(to.sets.values(), (s) => s.name)) {
    const old = from.sets.get(set.name);
    const delta = deltas.get(set.name);
    if (old === set && delta === undefined) continue;
    if (old === undefined) lines.push(`add set ${TABLE_FAMILY} ${t} ${set.name} { ${setDeclaration(set)} }`);
    const removed = delta ? delta.removed : old ? [...old.elements].filter((e) => !set.elements.has(e)) : [];
    const added = delta ? delta.added : old ? [...set.elements].filter((e) => !old.elements.has(e)) : [...set.elements];
    for (const chunk of elementLines(removed, '')) lines.push(`delete element ${TABLE_FAMILY} ${t} ${set.name} { ${chunk} }`);
    for (const chunk of elementLines(added, '')) lines.push(`add element ${TABLE_FAMILY} ${t} ${set.name} { ${chunk} }`);
  }
  for (const chain of sorted(to.chains.values(), (c) => c.name)) {
    const old = from.chains.get(chain.name);
    if (old === chain || !chainChanged(old, chain)) continue;
    lines.push(old === undefined ? `add chain ${TABLE_FAMILY} ${t} ${chain.name}` : `flush chain ${TABLE_FAMILY} ${t} ${chain.name}`);
    for (const rule of chain.rules) lines.push(`add rule ${TABLE_FAMILY} ${t} ${chain.name} ${rule}`);
  }
  for (const map of MAPS) {
    const before = from.maps[map];
    const after = to.maps[map];
    const gone = [...before].filter(([ip, value]) => after.get(ip) !== value).map(([ip]) => ip);
    const come = [...after].filter(([ip, value]) => before.get(ip) !== value).map(([ip, value]) => mapElement(map, ip, value));
    if (gone.length > 0) lines.push(`delete element ${TABLE_FAMILY} ${t} ${map} { ${gone.join(', ')} }`);
    if (come.length > 0) lines.push(`add element ${TABLE_FAMILY} ${t} ${map} { ${come.join(', ')} }`);
  }
  for (const name of [...from.chains.keys()].sort()) if (!to.chains.has(name)) lines.push(`delete chain ${TABLE_FAMILY} ${t} ${name}`);
  for (const name of [...from.sets.keys()].sort()) if (!to.sets.has(name)) lines.push(`delete set ${TABLE_FAMILY} ${t} ${name}`);
  for (const c of [...oldCounters].sort()) if (!newCounters.has(c)) lines.push(`delete counter ${TABLE_FAMILY} ${t} ${c}`);
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

/** Removes nftpol's table and everything in it (uninstall). */
export function renderDeleteTable(table: string): string {
  return `delete table ${tableRef(table)}\n`;
}
