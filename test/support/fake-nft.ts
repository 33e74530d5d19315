// An atomic fake nft on a typed table, after knftables' fake.go: a transaction is applied to a copy of
// the tables and committed only if every operation succeeds, as the kernel does. It refuses what the
// kernel refuses: references to objects that do not exist (a rule's sets, maps, chains, counters and
// limits; a map element's chain or counter), deleting an object something still refers to, deleting
// what is not there, an element of the wrong shape, overlapping intervals, a map key with a second
// value. It consumes typed operations (src/nft/operations.ts); text is parsed only in the subset nftpol
// writes (parse-nft.ts).
import { cidrRange, familyOf, ipToBigInt, parseCidr } from '../../src/model/ip.js';
import { NftError, type NftRunner } from '../../src/nft/executor.js';
import { segments, type BaseHook, type DataType, type Declaration, type ElementItem, type MapValue, type Operation, type Rule, type Transaction } from '../../src/nft/operations.js';
import { parseScript } from './parse-nft.js';

export interface FakeChain {
  readonly hook?: BaseHook;
  rules: Rule[];
}

export interface FakeSet {
  readonly type: readonly DataType[];
  readonly interval: boolean;
  /** Canonical key -> the element as written. */
  readonly elements: Map<string, string>;
}

export interface FakeMap {
  readonly key: DataType;
  readonly value: 'verdict' | 'counter';
  /** Canonical key -> value. */
  readonly elements: Map<string, MapValue>;
}

export interface FakeLimit {
  readonly ratePerSecond: number;
  readonly burstPackets: number;
}

export interface FakeTable {
  readonly chains: Map<string, FakeChain>;
  readonly sets: Map<string, FakeSet>;
  readonly maps: Map<string, FakeMap>;
  readonly counters: Map<string, { packets: number }>;
  readonly limits: Map<string, FakeLimit>;
}

function emptyTable(): FakeTable {
  return { chains: new Map(), sets: new Map(), maps: new Map(), counters: new Map(), limits: new Map() };
}

function copyTable(t: FakeTable): FakeTable {
  return {
    chains: new Map([...t.chains].map(([k, c]) => [k, { ...c, rules: [...c.rules] }])),
    sets: new Map([...t.sets].map(([k, s]) => [k, { ...s, elements: new Map(s.elements) }])),
    maps: new Map([...t.maps].map(([k, m]) => [k, { ...m, elements: new Map(m.elements) }])),
    counters: new Map([...t.counters].map(([k, c]) => [k, { ...c }])),
    limits: new Map(t.limits),
  };
}

/** The fake's errors read like nft's, naming the operation that failed. */
export class FakeNftError extends NftError {
  constructor(readonly operation: number, message: string) {
    super(`fake nft: operation #${operation}: ${message}`, undefined, undefined, message);
  }
}

// ------------------------------------------------------------------------------------ element shapes

function canonicalComponent(type: DataType, text: string): string | null {
  switch (type) {
    case 'ipv4_addr':
    case 'ipv6_addr': {
      const family = familyOf(text);
      if (family !== (type === 'ipv4_addr' ? 'IPv4' : 'IPv6')) return null;
      return ipToBigInt(text).toString(16);
    }
    case 'inet_proto':
      return /^(tcp|udp|sctp|icmp|icmpv6)$/.test(text) ? text : null;
    case 'inet_service':
      return /^\d{1,5}$/.test(text) && Number(text) <= 65535 ? String(Number(text)) : null;
  }
}

/** An address range of an interval set element: `a`, `a-b` or `a/n`. */
export function intervalOf(type: DataType, text: string): [bigint, bigint] | null {
  const family = type === 'ipv4_addr' ? 'IPv4' : type === 'ipv6_addr' ? 'IPv6' : null;
  if (family === null) return null;
  if (text.includes('/')) {
    const cidr = parseCidr(text);
    return cidr !== null && cidr.family === family ? cidrRange(cidr) : null;
  }
  const [first, last = first, extra] = text.split('-');
  if (extra !== undefined || familyOf(first!) !== family || familyOf(last!) !== family) return null;
  const range: [bigint, bigint] = [ipToBigInt(first!), ipToBigInt(last!)];
  return range[0] <= range[1] ? range : null;
}

/** The canonical key of an element of a set or map of this type, or null when the element does not fit it. */
export function canonicalKey(type: readonly DataType[], interval: boolean, text: string): string | null {
  // Remembered: the property tests meet the same few elements again and again, and parsing an address is slow.
  const memo = `${type.join()}|${interval}|${text}`;
  const known = canonicalKeys.get(memo);
  if (known !== undefined) return known;
  const key = computeCanonicalKey(type, interval, text);
  if (canonicalKeys.size > 100_000) canonicalKeys.clear();
  canonicalKeys.set(memo, key);
  return key;
}
const canonicalKeys = new Map<string, string | null>();

function computeCanonicalKey(type: readonly DataType[], interval: boolean, text: string): string | null {
  if (interval) {
    const range = type.length === 1 ? intervalOf(type[0]!, text) : null;
    return range === null ? null : `${range[0].toString(16)}-${range[1].toString(16)}`;
  }
  const parts = text.split(' . ');
  if (parts.length !== type.length) return null;
  const canonical = parts.map((part, i) => canonicalComponent(type[i]!, part));
  return canonical.some((c) => c === null) ? null : canonical.join(' . ');
}

// ------------------------------------------------------------------------------------------ applying

class Failure extends Error {}

function fail(message: string): never {
  throw new Failure(message);
}

/** Where each object is referred to from, for the kernel's "in use" refusals. */
function usersOf(table: FakeTable, kind: 'sets' | 'maps' | 'chains' | 'counters' | 'limits', name: string): string[] {
  const users: string[] = [];
  for (const [chainName, chain] of table.chains) {
    for (const rule of chain.rules) if ((rule.refs[kind] ?? []).includes(name)) users.push(`a rule of chain ${chainName} (${rule.text})`);
  }
  if (kind === 'chains' || kind === 'counters') {
    for (const [mapName, map] of table.maps) {
      for (const [key, value] of map.elements) {
        if ((kind === 'chains' && 'jump' in value && value.jump === name) || (kind === 'counters' && 'counter' in value && value.counter === name)) users.push(`element ${key} of map ${mapName}`);
      }
    }
  }
  return users;
}

function checkRuleRefs(table: FakeTable, rule: Rule): void {
  const missing = (kind: string, names: readonly string[] | undefined, has: (n: string) => boolean) => {
    for (const name of names ?? []) if (!has(name)) fail(`rule "${rule.text}": no ${kind} ${name}`);
  };
  missing('set', rule.refs.sets, (n) => table.sets.has(n));
  missing('map', rule.refs.maps, (n) => table.maps.has(n));
  missing('chain', rule.refs.chains, (n) => table.chains.has(n) && table.chains.get(n)!.hook === undefined);
  missing('counter', rule.refs.counters, (n) => table.counters.has(n));
  missing('limit', rule.refs.limits, (n) => table.limits.has(n));
}

function addRule(table: FakeTable, chain: string, rule: Rule): void {
  const target = table.chains.get(chain) ?? fail(`add rule: no chain ${chain}`);
  checkRuleRefs(table, rule);
  target.rules.push(rule);
}

function addElements(table: FakeTable, target: string, items: readonly ElementItem[]): void {
  const set = table.sets.get(target);
  if (set !== undefined) {
    for (const item of items) {
      if (item.value !== undefined) fail(`set ${target} holds keys only, got ${item.key} with a value`);
      const key = canonicalKey(set.type, set.interval, item.key) ?? fail(`element ${item.key} does not fit set ${target} (${set.type.join(' . ')})`);
      if (set.interval && !set.elements.has(key)) {
        const [first, last] = intervalOf(set.type[0]!, item.key)!;
        for (const other of set.elements.values()) {
          const [a, b] = intervalOf(set.type[0]!, other)!;
          if (first <= b && a <= last) fail(`interval ${item.key} overlaps ${other} in set ${target}`);
        }
      }
      set.elements.set(key, item.key);
    }
    return;
  }
  const map = table.maps.get(target) ?? fail(`add element: no set or map ${target}`);
  for (const item of items) {
    const key = canonicalKey([map.key], false, item.key) ?? fail(`key ${item.key} does not fit map ${target} (${map.key})`);
    const value = item.value ?? fail(`map ${target} needs a value for ${item.key}`);
    if ('jump' in value) {
      if (map.value !== 'verdict') fail(`map ${target} holds counters, not verdicts`);
      const chain = table.chains.get(value.jump) ?? fail(`element ${item.key} of map ${target}: no chain ${value.jump}`);
      if (chain.hook !== undefined) fail(`element ${item.key} of map ${target}: cannot jump to base chain ${value.jump}`);
    } else {
      if (map.value !== 'counter') fail(`map ${target} holds verdicts, not counters`);
      if (!table.counters.has(value.counter)) fail(`element ${item.key} of map ${target}: no counter ${value.counter}`);
    }
    const existing = map.elements.get(key);
    if (existing !== undefined && JSON.stringify(existing) !== JSON.stringify(value)) fail(`element ${item.key} of map ${target} exists with another value`);
    map.elements.set(key, value);
  }
}

function deleteElements(table: FakeTable, target: string, items: readonly ElementItem[]): void {
  const set = table.sets.get(target);
  const map = table.maps.get(target);
  if (set === undefined && map === undefined) fail(`delete element: no set or map ${target}`);
  for (const item of items) {
    const key = set ? canonicalKey(set.type, set.interval, item.key) : canonicalKey([map!.key], false, item.key);
    const elements = set ? set.elements : map!.elements;
    if (key === null || !elements.delete(key)) fail(`delete element: ${target} has no element ${item.key}`);
  }
}

/** Creates an object (contents aside). `add` of an existing object is no error unless its kind or type differ. */
function declare(table: FakeTable, o: Declaration): void {
  switch (o.kind) {
    case 'chain': {
      const existing = table.chains.get(o.name);
      if (existing === undefined) table.chains.set(o.name, { ...(o.hook ? { hook: o.hook } : {}), rules: [] });
      else if (JSON.stringify(existing.hook) !== JSON.stringify(o.hook)) fail(`chain ${o.name} exists with another hook`);
      return;
    }
    case 'set': {
      if (table.maps.has(o.name)) fail(`${o.name} is a map`);
      const existing = table.sets.get(o.name);
      const type = o.type ?? [];
      if (existing === undefined) table.sets.set(o.name, { type, interval: o.interval === true, elements: new Map() });
      else if (existing.type.join() !== type.join() || existing.interval !== (o.interval === true)) fail(`set ${o.name} exists with another type`);
      return;
    }
    case 'map': {
      if (table.sets.has(o.name)) fail(`${o.name} is a set`);
      const existing = table.maps.get(o.name);
      if (existing === undefined) table.maps.set(o.name, { key: o.key!, value: o.value!, elements: new Map() });
      else if (existing.key !== o.key || existing.value !== o.value) fail(`map ${o.name} exists with another type`);
      return;
    }
    case 'counter':
      if (!table.counters.has(o.name)) table.counters.set(o.name, { packets: 0 });
      return;
    case 'limit':
      if (!table.limits.has(o.name)) table.limits.set(o.name, { ratePerSecond: o.ratePerSecond!, burstPackets: o.burstPackets! });
      return;
  }
}

/** The contents an added object carries: a chain's rules, a set's or map's elements. */
function fill(table: FakeTable, o: Declaration): void {
  if (o.kind === 'chain') for (const rule of o.rules ?? []) addRule(table, o.name, rule);
  else if (o.kind === 'set' && o.elements && o.elements.length > 0) addElements(table, o.name, o.elements.map((key) => ({ key })));
  else if (o.kind === 'map' && o.elements && o.elements.length > 0) addElements(table, o.name, o.elements);
}

function refuseInUse(table: FakeTable, kind: 'sets' | 'maps' | 'chains' | 'counters' | 'limits', name: string): void {
  const users = usersOf(table, kind, name);
  if (users.length > 0) fail(`cannot delete ${kind.slice(0, -1)} ${name}: in use by ${users[0]}`);
}

function applyOne(tables: Map<string, FakeTable>, tableName: string, op: Operation): void {
  const o = op.object;
  if (o.kind === 'table') {
    if (op.verb === 'add') {
      if (!tables.has(tableName)) tables.set(tableName, emptyTable());
    } else if (op.verb === 'delete') {
      if (!tables.delete(tableName)) fail(`delete table: no table ${tableName}`);
    } else {
      const table = tables.get(tableName) ?? fail(`flush table: no table ${tableName}`);
      for (const chain of table.chains.values()) chain.rules = [];
    }
    return;
  }
  const table = tables.get(tableName) ?? fail(`no table ${tableName}`);
  if (o.kind === 'rule') return addRule(table, o.chain, o.rule);
  if (o.kind === 'element') return op.verb === 'add' ? addElements(table, o.target, o.items) : deleteElements(table, o.target, o.items);
  if (op.verb === 'add') {
    declare(table, o);
    fill(table, o);
    return;
  }
  switch (o.kind) {
    case 'chain': {
      const chain = table.chains.get(o.name) ?? fail(`${op.verb} chain: no chain ${o.name}`);
      if (op.verb === 'delete') {
        refuseInUse(table, 'chains', o.name);
        table.chains.delete(o.name);
      } else {
        chain.rules = [];
      }
      return;
    }
    case 'set':
    case 'map': {
      const store: Map<string, FakeSet | FakeMap> = o.kind === 'set' ? table.sets : table.maps;
      const object = store.get(o.name) ?? fail(`${op.verb} ${o.kind}: no ${o.kind} ${o.name}`);
      if (op.verb === 'delete') {
        refuseInUse(table, o.kind === 'set' ? 'sets' : 'maps', o.name);
        store.delete(o.name);
      } else {
        object.elements.clear();
      }
      return;
    }
    case 'counter':
    case 'limit': {
      const store: Map<string, unknown> = o.kind === 'counter' ? table.counters : table.limits;
      if (!store.has(o.name)) fail(`delete ${o.kind}: no ${o.kind} ${o.name}`);
      refuseInUse(table, o.kind === 'counter' ? 'counters' : 'limits', o.name);
      store.delete(o.name);
      return;
    }
  }
}

/** A fake nft: tables by name, changed only by whole transactions. Usable wherever an NftRunner is. */
export class FakeNft implements NftRunner {
  private tables = new Map<string, FakeTable>();
  /** Transactions committed and refused, for tests that count them. */
  committed = 0;
  refused = 0;

  /** The committed state of a table (undefined when it does not exist). Do not change it. */
  table(name: string): FakeTable | undefined {
    return this.tables.get(name);
  }

  /** Applies the transaction to a copy of the tables; commits the copy only if every operation succeeds. */
  run(transaction: Transaction): void {
    this.runOperations(transaction.table, transaction.operations);
  }

  runOperations(tableName: string, ops: readonly Operation[]): void {
    const draft = new Map([...this.tables].map(([name, table]) => [name, copyTable(table)]));
    let index = 0;
    try {
      for (const segment of segments(ops)) {
        if (segment.kind === 'op') {
          index++;
          applyOne(draft, tableName, segment.op);
          continue;
        }
        // A table block: nft creates every object first, then the rules and elements, so contents may
        // refer to objects declared further down.
        index++;
        applyOne(draft, tableName, { verb: 'add', object: { kind: 'table' } });
        const table = draft.get(tableName)!;
        const first = index;
        for (const declaration of segment.declarations) {
          index++;
          declare(table, declaration);
        }
        index = first;
        for (const declaration of segment.declarations) {
          index++;
          fill(table, declaration);
        }
      }
    } catch (error) {
      if (!(error instanceof Failure)) throw error;
      this.refused++;
      throw new FakeNftError(index, error.message);
    }
    this.tables = draft;
    this.committed++;
  }

  /** NftRunner: the typed operations when they come along, else the script in the subset nftpol writes. */
  async apply(script: string, transaction?: Transaction): Promise<void> {
    if (transaction !== undefined) return this.run(transaction);
    const parsed = parseScript(script);
    this.runOperations(parsed.table, parsed.operations);
  }

  async listTable(table: string): Promise<string | null> {
    const t = this.tables.get(table);
    return t === undefined ? null : JSON.stringify(plainTable(t), null, 2);
  }

  async listCounters(table: string): Promise<Map<string, number>> {
    const t = this.tables.get(table);
    return new Map(t === undefined ? [] : [...t.counters].map(([name, c]) => [name, c.packets]));
  }
}

/** A table as plain sorted data, for equality checks (rule order kept: it matters). */
export function plainTable(t: FakeTable): unknown {
  const sorted = <T>(m: Map<string, T>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    chains: Object.fromEntries(sorted(t.chains).map(([k, c]) => [k, { hook: c.hook ?? null, rules: c.rules.map((r) => r.text) }])),
    sets: Object.fromEntries(sorted(t.sets).map(([k, s]) => [k, { type: s.type.join(' . '), interval: s.interval, elements: [...s.elements.keys()].sort() }])),
    maps: Object.fromEntries(sorted(t.maps).map(([k, m]) => [k, { type: `${m.key} : ${m.value}`, elements: Object.fromEntries(sorted(m.elements)) }])),
    counters: [...t.counters.keys()].sort(),
    limits: Object.fromEntries(sorted(t.limits)),
  };
}
