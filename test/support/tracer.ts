// A packet tracer over the fake nft's table (fake-nft.ts), after kube-proxy's nftablesTracer: it walks a
// base chain rule by rule the way the kernel does, following verdict maps, jumps, gotos and returns,
// looking addresses, ports and concatenations up in named sets (interval sets included) and anonymous
// ones, and returns the verdict with the path it took. It reads rules in the subset of nft's expression
// syntax nftpol writes and throws on anything else, so a new rule shape cannot be silently misread.
import { cidrRange, familyOf as parseFamily, ipToBigInt as parseBigInt, parseCidr } from '../../src/model/ip.js';
import type { Rule } from '../../src/nft/operations.js';
import { canonicalKey, intervalOf, type FakeSet, type FakeTable } from './fake-nft.js';

export type L4Protocol = 'tcp' | 'udp' | 'sctp' | 'icmpv6';

export interface Packet {
  /** The netfilter hook the packet takes: `forward` (routed, pod to pod) or `input` (to the node). */
  readonly hook: 'forward' | 'input';
  readonly src: string;
  readonly dst: string;
  readonly protocol: L4Protocol;
  /** The transport destination port (ignored for icmpv6). */
  readonly port: number;
  /** Conntrack state; a new connection unless said otherwise. */
  readonly ctState?: 'new' | 'established' | 'related';
  readonly ctMark?: number;
  readonly icmpv6Type?: string;
}

export type Verdict = 'accept' | 'drop' | 'reject';

export interface Trace {
  readonly verdict: Verdict;
  /** Each rule that matched, as `chain[index]: text`, and how the walk ended. */
  readonly path: readonly string[];
}

// Address parsing, remembered: a property test traces the same few addresses hundreds of thousands of times.
const families = new Map<string, ReturnType<typeof parseFamily>>();
const bigints = new Map<string, bigint>();
function familyOf(ip: string): ReturnType<typeof parseFamily> {
  let family = families.get(ip);
  if (family === undefined && !families.has(ip)) families.set(ip, (family = parseFamily(ip)));
  return family ?? null;
}
function ipToBigInt(ip: string): bigint {
  let value = bigints.get(ip);
  if (value === undefined) bigints.set(ip, (value = parseBigInt(ip)));
  return value;
}

// ------------------------------------------------------------------------------------ reading rules

type Selector = 'saddr' | 'daddr' | 'l4proto' | 'dport' | 'icmpv6type';
interface Field {
  readonly selector: Selector;
  /** `ip` or `ip6` for addresses: the rule matches only packets of that family. */
  readonly family?: 'IPv4' | 'IPv6';
}

type Match =
  | { readonly kind: 'ctState'; readonly states: readonly string[] }
  | { readonly kind: 'ctMark'; readonly mask: number; readonly value: number }
  | { readonly kind: 'lookup'; readonly fields: readonly Field[]; readonly set: string }
  | { readonly kind: 'value'; readonly field: Field; readonly values: readonly string[] }
  | { readonly kind: 'limit'; readonly name: string };

type Statement =
  | { readonly kind: 'verdict'; readonly verdict: Verdict | 'return' }
  | { readonly kind: 'jump' | 'goto'; readonly chain: string }
  | { readonly kind: 'vmap'; readonly field: Field; readonly map: string }
  | { readonly kind: 'counter'; readonly name: string }
  | { readonly kind: 'counterMap'; readonly field: Field; readonly map: string }
  | { readonly kind: 'log'; readonly prefix: string };

interface ParsedRule {
  readonly matches: readonly Match[];
  readonly statements: readonly Statement[];
}

/** Tokens of a rule: words, with `{ ... }` kept together as one token. */
function tokens(text: string): string[] {
  const out: string[] = [];
  const words = text.split(' ');
  for (let i = 0; i < words.length; i++) {
    if (words[i] !== '{') {
      out.push(words[i]!);
      continue;
    }
    const group: string[] = [];
    while (words[++i] !== '}') {
      if (i >= words.length) throw new Error(`tracer: unclosed { in ${text}`);
      group.push(words[i]!);
    }
    out.push(`{${group.join(' ')}}`);
  }
  return out;
}

const parsedRules = new WeakMap<Rule, ParsedRule>();

function parse(rule: Rule): ParsedRule {
  const known = parsedRules.get(rule);
  if (known) return known;
  const t = tokens(rule.text);
  let i = 0;
  const unreadable = (): never => {
    throw new Error(`tracer: cannot read "${rule.text}" at "${t.slice(i).join(' ')}"`);
  };
  const expect = (word: string) => (t[i++] === word ? undefined : unreadable());
  const field = (): Field | null => {
    const [a, b] = [t[i], t[i + 1]];
    if ((a === 'ip' || a === 'ip6') && (b === 'saddr' || b === 'daddr')) {
      i += 2;
      return { selector: b, family: a === 'ip' ? 'IPv4' : 'IPv6' };
    }
    if (a === 'meta' && b === 'l4proto') return (i += 2), { selector: 'l4proto' };
    if (a === 'th' && b === 'dport') return (i += 2), { selector: 'dport' };
    if (a === 'icmpv6' && b === 'type') return (i += 2), { selector: 'icmpv6type' };
    return null;
  };
  const matches: Match[] = [];
  const statements: Statement[] = [];
  while (i < t.length) {
    const word = t[i]!;
    const fields: Field[] = [];
    for (let f = field(); f !== null; f = t[i] === '.' ? (i++, field() ?? unreadable()) : null) fields.push(f);
    if (fields.length > 0) {
      const next = t[i++] ?? unreadable();
      if (next.startsWith('@')) matches.push({ kind: 'lookup', fields, set: next.slice(1) });
      else if (next === 'vmap' && fields.length === 1) statements.push({ kind: 'vmap', field: fields[0]!, map: (t[i++] ?? unreadable()).slice(1) });
      else if (fields.length === 1 && next.startsWith('{')) matches.push({ kind: 'value', field: fields[0]!, values: next.slice(1, -1).split(', ') });
      else if (fields.length === 1) matches.push({ kind: 'value', field: fields[0]!, values: [next] });
      else unreadable();
      continue;
    }
    i++;
    switch (word) {
      case 'ct':
        if (t[i] === 'state') {
          matches.push({ kind: 'ctState', states: t[i + 1]!.split(',') });
          i += 2;
        } else if (t[i] === 'mark' && t[i + 1] === 'and' && t[i + 3] === '==') {
          matches.push({ kind: 'ctMark', mask: Number(t[i + 2]), value: Number(t[i + 4]) });
          i += 5;
        } else unreadable();
        break;
      case 'limit':
        expect('name');
        matches.push({ kind: 'limit', name: JSON.parse(t[i++]!) as string });
        break;
      case 'counter': {
        expect('name');
        if (t[i]!.startsWith('"')) {
          statements.push({ kind: 'counter', name: JSON.parse(t[i++]!) as string });
          break;
        }
        const f = field() ?? unreadable();
        expect('map');
        statements.push({ kind: 'counterMap', field: f, map: t[i++]!.slice(1) });
        break;
      }
      case 'log':
        expect('prefix');
        statements.push({ kind: 'log', prefix: JSON.parse(t[i++]!) as string });
        while (t[i] === 'group' || t[i] === 'snaplen') i += 2;
        break;
      case 'reject':
        expect('with');
        if (t[i] === 'tcp' && t[i + 1] === 'reset') i += 2;
        else if (t[i] === 'icmpx' && t[i + 1] === 'admin-prohibited') i += 2;
        else unreadable();
        statements.push({ kind: 'verdict', verdict: 'reject' });
        break;
      case 'accept':
      case 'drop':
      case 'return':
        statements.push({ kind: 'verdict', verdict: word });
        break;
      case 'jump':
      case 'goto':
        statements.push({ kind: word, chain: t[i++] ?? unreadable() });
        break;
      default:
        i--;
        unreadable();
    }
  }
  const parsed = { matches, statements };
  parsedRules.set(rule, parsed);
  return parsed;
}

// ------------------------------------------------------------------------------------------ walking

/** The packet's value of a field, or null when the rule's field does not apply to it (other family, no ports). */
function valueOf(packet: Packet, field: Field): string | null {
  switch (field.selector) {
    case 'saddr':
    case 'daddr': {
      const address = field.selector === 'saddr' ? packet.src : packet.dst;
      return familyOf(address) === field.family ? address : null;
    }
    case 'l4proto':
      return packet.protocol;
    case 'dport':
      return packet.protocol === 'icmpv6' ? null : String(packet.port);
    case 'icmpv6type':
      return packet.protocol === 'icmpv6' ? (packet.icmpv6Type ?? null) : null;
  }
}

/** Does a literal of the rule (an address, prefix, port, port range or name) hold the packet's value? */
function literalHolds(field: Field, literal: string, value: string): boolean {
  if (field.selector === 'saddr' || field.selector === 'daddr') {
    if (literal.includes('/')) {
      const cidr = parseCidr(literal) ?? (() => { throw new Error(`tracer: bad prefix ${literal}`); })();
      const [first, last] = cidrRange(cidr);
      const v = ipToBigInt(value);
      return familyOf(value) === cidr.family && v >= first && v <= last;
    }
    return ipToBigInt(literal) === ipToBigInt(value);
  }
  if (field.selector === 'dport') {
    const [from, to = from] = literal.split('-').map(Number);
    return Number(value) >= from! && Number(value) <= to!;
  }
  return literal === value;
}

export class Tracer {
  private readonly intervals = new Map<string, [bigint, bigint][]>();

  constructor(private readonly table: FakeTable) {}

  private inSet(name: string, values: readonly string[]): boolean {
    const set: FakeSet = this.table.sets.get(name) ?? (() => { throw new Error(`tracer: no set ${name}`); })();
    if (set.type.length !== values.length) throw new Error(`tracer: set ${name} is ${set.type.join(' . ')}, looked up with ${values.length} fields`);
    if (!set.interval) {
      const key = canonicalKey(set.type, false, values.join(' . '));
      return key !== null && set.elements.has(key);
    }
    let ranges = this.intervals.get(name);
    if (ranges === undefined) this.intervals.set(name, (ranges = [...set.elements.values()].map((e) => intervalOf(set.type[0]!, e)!)));
    if (familyOf(values[0]!) !== (set.type[0] === 'ipv4_addr' ? 'IPv4' : 'IPv6')) return false;
    const v = ipToBigInt(values[0]!);
    return ranges.some(([first, last]) => v >= first && v <= last);
  }

  private lookupMap(name: string, key: string) {
    const map = this.table.maps.get(name) ?? (() => { throw new Error(`tracer: no map ${name}`); })();
    const canonical = canonicalKey([map.key], false, key);
    return canonical === null ? undefined : map.elements.get(canonical);
  }

  private matches(packet: Packet, match: Match): boolean {
    switch (match.kind) {
      case 'ctState':
        return match.states.includes(packet.ctState ?? 'new');
      case 'ctMark':
        return ((packet.ctMark ?? 0) & match.mask) === match.value;
      case 'limit':
        return true; // under the limit: the tracer sends one packet
      case 'lookup': {
        const values = match.fields.map((f) => valueOf(packet, f));
        return values.every((v) => v !== null) && this.inSet(match.set, values as string[]);
      }
      case 'value': {
        const value = valueOf(packet, match.field);
        return value !== null && match.values.some((literal) => literalHolds(match.field, literal, value));
      }
    }
  }

  private vmapTarget(packet: Packet, statement: Extract<Statement, { kind: 'vmap' }>): string | undefined {
    const key = valueOf(packet, statement.field);
    const value = key === null ? undefined : this.lookupMap(statement.map, key);
    if (value === undefined) return undefined;
    if (!('jump' in value)) throw new Error(`tracer: verdict map ${statement.map} holds a counter`);
    return value.jump;
  }

  /** Runs one chain; 'continue' means it fell off its end or returned, to be resumed by its caller. */
  private run(packet: Packet, chainName: string, path: string[], depth: number): Verdict | 'continue' {
    if (depth > 16) throw new Error('tracer: jumps nested deeper than the kernel allows');
    const chain = this.table.chains.get(chainName) ?? (() => { throw new Error(`tracer: no chain ${chainName}`); })();
    for (const [index, rule] of chain.rules.entries()) {
      const parsed = parse(rule);
      if (!parsed.matches.every((m) => this.matches(packet, m))) continue;
      // A verdict map lookup that finds nothing (or a field of the other family) ends the rule without a
      // verdict: as far as the walk is concerned, the rule did not match.
      if (parsed.statements.some((s) => s.kind === 'vmap' && this.vmapTarget(packet, s) === undefined)) continue;
      path.push(`${chainName}[${index}]: ${rule.text}`);
      for (const statement of parsed.statements) {
        let target: string | undefined;
        let goto = false;
        switch (statement.kind) {
          case 'verdict':
            if (statement.verdict === 'return') return 'continue';
            return statement.verdict;
          case 'jump':
          case 'goto':
            target = statement.chain;
            goto = statement.kind === 'goto';
            break;
          case 'vmap':
            target = this.vmapTarget(packet, statement)!;
            break;
          case 'counterMap': {
            const key = valueOf(packet, statement.field);
            const value = key === null ? undefined : this.lookupMap(statement.map, key);
            if (value !== undefined && 'counter' in value) path.push(`  counted in ${value.counter}`);
            continue;
          }
          case 'counter':
          case 'log':
            continue;
        }
        const result = this.run(packet, target, path, depth + 1);
        if (result !== 'continue') return result;
        if (goto) return 'continue';
        // Back from a jump: the rule's remaining statements are skipped, the chain goes on.
        break;
      }
    }
    return 'continue';
  }

  /** The verdict of the packet's base chain, with the path; the chain's policy when nothing decides. */
  trace(packet: Packet): Trace {
    const base = this.table.chains.get(packet.hook);
    if (base?.hook === undefined) throw new Error(`tracer: no base chain ${packet.hook}`);
    const path: string[] = [];
    const result = this.run(packet, packet.hook, path, 0);
    if (result !== 'continue') return { verdict: result, path };
    path.push(`${packet.hook}: policy ${base.hook.policy}`);
    return { verdict: base.hook.policy, path };
  }
}
