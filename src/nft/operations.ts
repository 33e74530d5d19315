// nft transactions as data: a small typed vocabulary of nft's objects (table, chain, rule, set, map,
// element, counter, limit) and verbs (add, delete, flush), after knftables. A Transaction validates each
// operation as it is enqueued and keeps the first error; write.ts is the one place that turns operations
// into nft syntax, and test/support/fake-nft.ts applies them to a typed table as the kernel would. Every
// rule carries the references it makes (sets, maps, chains, counters, limits), checked against its text
// here and against the table by the fake.
import { isSafeName, type DataType, type Hook } from './vocabulary.js';

export type Verb = 'add' | 'delete' | 'flush';

/** The named objects a rule refers to; each must exist while the rule does (the kernel holds a use count). */
export interface RuleRefs {
  readonly sets?: readonly string[];
  readonly maps?: readonly string[];
  readonly chains?: readonly string[];
  readonly counters?: readonly string[];
  readonly limits?: readonly string[];
}

/** One rule: its nft text (matches and statements) and what it refers to. */
export interface Rule {
  readonly text: string;
  readonly refs: RuleRefs;
}

export function rule(text: string, refs: RuleRefs = {}): Rule {
  return { text, refs };
}

/** A base chain's hook: where the kernel calls it, and what happens to a packet that falls off its end. */
export interface BaseHook {
  readonly type: 'filter';
  readonly hook: Hook;
  readonly priority: 'filter';
  readonly policy: 'accept' | 'drop';
}

/** A map's value: a jump to a chain (verdict maps) or a named counter (counter maps). */
export type MapValue = { readonly jump: string } | { readonly counter: string };

/** An element of a set (key only) or a map (key and, when added, its value). */
export interface ElementItem {
  readonly key: string;
  readonly value?: MapValue;
}

export type { DataType } from './vocabulary.js';

export type NftObject =
  | { readonly kind: 'table' }
  /** With `rules`, the chain is created with them (in a table block, or followed by `add rule`). */
  | { readonly kind: 'chain'; readonly name: string; readonly hook?: BaseHook; readonly rules?: readonly Rule[] }
  | { readonly kind: 'rule'; readonly chain: string; readonly rule: Rule }
  /** `type` lists the concatenated components (one for a plain set); `interval`: ranges and prefixes. */
  | { readonly kind: 'set'; readonly name: string; readonly type?: readonly DataType[]; readonly interval?: boolean; readonly elements?: readonly string[] }
  | { readonly kind: 'map'; readonly name: string; readonly key?: DataType; readonly value?: 'verdict' | 'counter'; readonly elements?: readonly ElementItem[] }
  /** Elements added to or deleted from the set or map `target`. */
  | { readonly kind: 'element'; readonly target: string; readonly items: readonly ElementItem[] }
  | { readonly kind: 'counter'; readonly name: string }
  | { readonly kind: 'limit'; readonly name: string; readonly ratePerSecond?: number; readonly burstPackets?: number };

export type ObjectKind = NftObject['kind'];

export interface Operation {
  readonly verb: Verb;
  readonly object: NftObject;
}

const VERBS: Record<ObjectKind, readonly Verb[]> = {
  table: ['add', 'delete', 'flush'],
  chain: ['add', 'delete', 'flush'],
  rule: ['add'],
  set: ['add', 'delete', 'flush'],
  map: ['add', 'delete', 'flush'],
  element: ['add', 'delete'],
  counter: ['add', 'delete'],
  limit: ['add', 'delete'],
};

/** nft table names: what `--table` accepts. */
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** What a rule's text refers to, read the way nft reads it (only the shapes nftpol writes). */
export function referencesIn(text: string): Required<RuleRefs> {
  const maps = [...text.matchAll(/\b(?:vmap|map) @([a-z0-9-]+)/g)].map((m) => m[1]!);
  const sets = [...text.matchAll(/(?<!map )@([a-z0-9-]+)/g)].map((m) => m[1]!);
  const chains = [...text.matchAll(/\b(?:jump|goto) ([a-z0-9-]+)/g)].map((m) => m[1]!);
  const counters = [...text.matchAll(/\bcounter name "([a-z0-9-]+)"/g)].map((m) => m[1]!);
  const limits = [...text.matchAll(/\blimit name "([a-z0-9-]+)"/g)].map((m) => m[1]!);
  return { sets, maps, chains, counters, limits };
}

function sameNames(a: readonly string[] = [], b: readonly string[] = []): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((name, i) => name === y[i]);
}

/**
 * Rules found valid. A rule object is immutable and the same one comes back on every sync of its chain
 * (render.ts keeps them per chain), so each is read once, not once per full sync.
 */
const validRules = new WeakSet<Rule>();

/** Why a rule is not valid, or null. */
function ruleProblem(r: Rule): string | null {
  if (validRules.has(r)) return null;
  const problem = readRule(r);
  if (problem === null) validRules.add(r);
  return problem;
}

function readRule(r: Rule): string | null {
  if (r.text.trim() === '' || /[\n;#]/.test(r.text)) return `bad rule text ${JSON.stringify(r.text)}`;
  const found = referencesIn(r.text);
  for (const kind of ['sets', 'maps', 'chains', 'counters', 'limits'] as const) {
    for (const name of r.refs[kind] ?? []) if (!isSafeName(name)) return `rule refers to a bad ${kind} name ${JSON.stringify(name)}`;
    if (!sameNames(found[kind], r.refs[kind])) return `rule ${JSON.stringify(r.text)} refers to ${kind} [${found[kind].join(', ')}] but declares [${(r.refs[kind] ?? []).join(', ')}]`;
  }
  return null;
}

/** Characters that would end an element and start more nft syntax. */
const NOT_IN_ELEMENTS = /[\n;#{},]/;

/** Checked as one string: a set of 100,000 addresses is one regular expression scan, not 100,000. */
function keysProblem(keys: readonly string[]): string | null {
  if (!keys.includes('') && !NOT_IN_ELEMENTS.test(keys.join(' '))) return null;
  const bad = keys.find((key) => key === '' || NOT_IN_ELEMENTS.test(key))!;
  return `bad element ${JSON.stringify(bad)}`;
}

function itemsProblem(verb: Verb, items: readonly ElementItem[]): string | null {
  for (const item of items) {
    if (item.key === '' || NOT_IN_ELEMENTS.test(item.key)) return `bad element ${JSON.stringify(item.key)}`;
    if (verb === 'delete' && item.value !== undefined) return `element ${item.key} is deleted by its key only`;
    const target = item.value === undefined ? undefined : 'jump' in item.value ? item.value.jump : item.value.counter;
    if (target !== undefined && !isSafeName(target)) return `element ${item.key} refers to a bad name ${JSON.stringify(target)}`;
  }
  return null;
}

/** Why an operation is not valid, or null. The checks need no table: the fake checks the references. */
export function operationProblem(op: Operation): string | null {
  const o = op.object;
  if (!VERBS[o.kind].includes(op.verb)) return `cannot ${op.verb} a ${o.kind}`;
  const name = o.kind === 'table' ? undefined : o.kind === 'rule' ? o.chain : o.kind === 'element' ? o.target : o.name;
  if (name !== undefined && !isSafeName(name)) return `bad ${o.kind} name ${JSON.stringify(name)}`;
  const contents =
    (o.kind === 'chain' && (o.rules !== undefined || o.hook !== undefined)) ||
    (o.kind === 'set' && (o.elements !== undefined || o.type !== undefined)) ||
    (o.kind === 'map' && (o.elements !== undefined || o.key !== undefined || o.value !== undefined));
  if (op.verb !== 'add' && contents) return `${op.verb} ${o.kind} ${name} takes its name only`;
  switch (o.kind) {
    case 'chain':
      for (const r of o.rules ?? []) {
        const problem = ruleProblem(r);
        if (problem !== null) return `chain ${o.name}: ${problem}`;
      }
      return null;
    case 'rule':
      return ruleProblem(o.rule);
    case 'set':
      if (op.verb === 'add' && (o.type === undefined || o.type.length === 0)) return `add set ${o.name} needs its type`;
      return keysProblem(o.elements ?? []);
    case 'map':
      if (op.verb === 'add' && (o.key === undefined || o.value === undefined)) return `add map ${o.name} needs its key and value types`;
      if ((o.elements ?? []).some((e) => e.value === undefined)) return `map ${o.name}: an element without a value`;
      return itemsProblem('add', o.elements ?? []);
    case 'element':
      if (o.items.length === 0) return `${op.verb} element ${o.target}: no elements`;
      return itemsProblem(op.verb, o.items);
    case 'limit':
      if (op.verb === 'add' && !(Number.isInteger(o.ratePerSecond) && Number.isInteger(o.burstPackets) && o.ratePerSecond! > 0 && o.burstPackets! > 0)) return `add limit ${o.name} needs a positive rate and burst`;
      return null;
    default:
      return null;
  }
}

export class TransactionError extends Error {
  override readonly name = 'TransactionError';
}

/**
 * The operations of one `nft -f` transaction on one table, in order. Each is validated when enqueued;
 * the first problem is kept and thrown by `operations` (and so by whoever writes or applies it), after
 * knftables: a caller builds the whole transaction, then learns once whether it was well formed.
 */
export class Transaction {
  private readonly ops: Operation[] = [];
  private firstError: TransactionError | null = null;

  constructor(readonly table: string) {
    if (!TABLE_NAME.test(table)) this.firstError = new TransactionError(`internal: bad table name ${JSON.stringify(table)}`);
  }

  add(object: NftObject): this {
    return this.enqueue('add', object);
  }

  delete(object: NftObject): this {
    return this.enqueue('delete', object);
  }

  flush(object: NftObject): this {
    return this.enqueue('flush', object);
  }

  private enqueue(verb: Verb, object: NftObject): this {
    const op = { verb, object };
    const problem = operationProblem(op);
    if (problem !== null && this.firstError === null) this.firstError = new TransactionError(`internal: invalid nft operation #${this.ops.length + 1}: ${problem}`);
    this.ops.push(op);
    return this;
  }

  /** The first invalid operation's error, if any. */
  get error(): TransactionError | null {
    return this.firstError;
  }

  get size(): number {
    return this.ops.length;
  }

  /** The operations; throws the first validation error. */
  get operations(): readonly Operation[] {
    if (this.firstError !== null) throw this.firstError;
    return this.ops;
  }
}

/** Objects that can be declared inside a `table <family> <name> { ... }` block. */
export type Declaration = Extract<NftObject, { kind: 'chain' | 'set' | 'map' | 'counter' | 'limit' }>;

function isDeclaration(op: Operation): op is { verb: 'add'; object: Declaration } {
  const kind = op.object.kind;
  return op.verb === 'add' && (kind === 'chain' || kind === 'set' || kind === 'map' || kind === 'counter' || kind === 'limit');
}

/** A run of a transaction: one operation, or an `add table` with the objects declared right after it. */
export type Segment = { readonly kind: 'op'; readonly op: Operation } | { readonly kind: 'block'; readonly declarations: readonly Declaration[] };

/**
 * Splits operations into segments: an `add table` followed by declarations is nft's table block
 * (`table inet t { ... }`), in which nft creates every object before any rule or element, so contents
 * may refer to objects declared further down. Everything else is applied one operation at a time.
 * The writer and the fake both read a transaction through this, so they cannot disagree on it.
 */
export function segments(ops: readonly Operation[]): Segment[] {
  const out: Segment[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.verb === 'add' && op.object.kind === 'table' && i + 1 < ops.length && isDeclaration(ops[i + 1]!)) {
      const declarations: Declaration[] = [];
      while (i + 1 < ops.length && isDeclaration(ops[i + 1]!)) declarations.push(ops[++i]!.object as Declaration);
      out.push({ kind: 'block', declarations });
    } else {
      out.push({ kind: 'op', op });
    }
  }
  return out;
}
