// The subset of nft syntax nftpol writes (src/nft/write.ts), read back into typed operations, so that the
// fake nft can take a script as well as a transaction. Anything else is an error: this is not nft's
// grammar, only the inverse of our writer.
import { referencesIn, rule, type BaseHook, type DataType, type Declaration, type ElementItem, type NftObject, type Operation, type Verb } from '../../src/nft/operations.js';

export interface ParsedScript {
  readonly table: string;
  readonly operations: readonly Operation[];
}

function textRule(text: string) {
  return rule(text, referencesIn(text));
}

function items(text: string): ElementItem[] {
  return text.split(', ').map((item) => {
    const jump = /^(\S+) : jump (\S+)$/.exec(item);
    if (jump) return { key: jump[1]!, value: { jump: jump[2]! } };
    const counter = /^(\S+) : "(\S+)"$/.exec(item);
    if (counter) return { key: counter[1]!, value: { counter: counter[2]! } };
    return { key: item };
  });
}

/** `type ...;[ flags interval;]` of a set, or `type K : V;` of a map. */
function typeOf(kind: 'set' | 'map', clause: string): Partial<Extract<NftObject, { kind: 'set' | 'map' }>> {
  if (kind === 'map') {
    const m = /^type (\S+) : (verdict|counter);$/.exec(clause);
    if (!m) throw new Error(`parse nft: bad map type ${clause}`);
    return { key: m[1] as DataType, value: m[2] as 'verdict' | 'counter' };
  }
  const m = /^type ([a-z0-9_ .]+);( flags interval;)?$/.exec(clause);
  if (!m) throw new Error(`parse nft: bad set type ${clause}`);
  return { type: m[1]!.split(' . ') as DataType[], interval: m[2] !== undefined };
}

function hookOf(clause: string): BaseHook {
  const m = /^type filter hook (forward|input) priority filter; policy (accept|drop);$/.exec(clause);
  if (!m) throw new Error(`parse nft: bad hook ${clause}`);
  return { type: 'filter', hook: m[1] as BaseHook['hook'], priority: 'filter', policy: m[2] as BaseHook['policy'] };
}

function declarationsOf(lines: readonly string[]): Declaration[] {
  const out: Declaration[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    let m: RegExpExecArray | null;
    if ((m = /^ {2}counter (\S+) \{ \}$/.exec(line))) out.push({ kind: 'counter', name: m[1]! });
    else if ((m = /^ {2}limit (\S+) \{ rate (\d+)\/second burst (\d+) packets \}$/.exec(line))) out.push({ kind: 'limit', name: m[1]!, ratePerSecond: Number(m[2]), burstPackets: Number(m[3]) });
    else if ((m = /^ {2}(set|map) (\S+) \{ (type .*;) \}$/.exec(line))) out.push({ kind: m[1] as 'set', name: m[2]!, ...typeOf(m[1] as 'set', m[3]!), elements: [] } as Declaration);
    else if ((m = /^ {2}(set|map) (\S+) \{$/.exec(line))) {
      const kind = m[1] as 'set' | 'map';
      const type = typeOf(kind, lines[++i]!.trim());
      if (lines[++i] !== '    elements = {') throw new Error(`parse nft: expected elements at ${lines[i]}`);
      const found: ElementItem[] = [];
      while (lines[++i] !== '    }') found.push(...items(lines[i]!.trim().replace(/,$/, '')));
      if (lines[++i] !== '  }') throw new Error(`parse nft: expected the end of ${m[2]}`);
      out.push((kind === 'set' ? { kind, name: m[2]!, ...type, elements: found.map((e) => e.key) } : { kind, name: m[2]!, ...type, elements: found }) as Declaration);
    } else if ((m = /^ {2}chain (\S+) \{$/.exec(line))) {
      const name = m[1]!;
      let hook: BaseHook | undefined;
      const rules = [];
      while (lines[++i] !== '  }') {
        const text = lines[i]!.trim();
        if (text.startsWith('type filter hook ')) hook = hookOf(text);
        else rules.push(textRule(text));
      }
      out.push({ kind: 'chain', name, ...(hook ? { hook } : {}), rules });
    } else throw new Error(`parse nft: cannot read ${JSON.stringify(line)} in a table block`);
  }
  return out;
}

export function parseScript(script: string): ParsedScript {
  const lines = script.split('\n').filter((l) => l !== '');
  const operations: Operation[] = [];
  let table: string | undefined;
  const inTable = (name: string) => {
    if (table !== undefined && table !== name) throw new Error(`parse nft: a script about tables ${table} and ${name}`);
    table = name;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    let m: RegExpExecArray | null;
    if ((m = /^table inet (\S+) \{$/.exec(line))) {
      inTable(m[1]!);
      const body: string[] = [];
      while (lines[++i] !== '}') {
        if (i >= lines.length) throw new Error('parse nft: a table block without its end');
        body.push(lines[i]!);
      }
      operations.push({ verb: 'add', object: { kind: 'table' } }, ...declarationsOf(body).map((object) => ({ verb: 'add' as const, object })));
      continue;
    }
    m = /^(add|delete|flush) (table|chain|rule|set|map|element|counter|limit) inet (\S+)(?: (\S+))?(?: (.*))?$/.exec(line);
    if (!m) throw new Error(`parse nft: cannot read ${JSON.stringify(line)}`);
    const [, verb, kind, name, objectName, rest] = m as unknown as [string, Verb, NftObject['kind'], string, string | undefined, string | undefined];
    inTable(name);
    const braces = rest === undefined ? undefined : /^\{ (.*) \}$/.exec(rest)?.[1];
    let object: NftObject;
    switch (kind) {
      case 'table':
        object = { kind };
        break;
      case 'chain':
        object = { kind, name: objectName!, ...(braces !== undefined ? { hook: hookOf(braces) } : {}) };
        break;
      case 'rule':
        object = { kind, chain: objectName!, rule: textRule(rest!) };
        break;
      case 'set':
      case 'map':
        object = { kind, name: objectName!, ...(braces !== undefined ? typeOf(kind, braces) : {}) } as NftObject;
        break;
      case 'element':
        object = { kind, target: objectName!, items: items(braces ?? '') };
        break;
      case 'counter':
        object = { kind, name: objectName! };
        break;
      case 'limit': {
        const limit = braces === undefined ? null : /^rate (\d+)\/second burst (\d+) packets$/.exec(braces);
        object = { kind, name: objectName!, ...(limit ? { ratePerSecond: Number(limit[1]), burstPackets: Number(limit[2]) } : {}) };
        break;
      }
    }
    operations.push({ verb, object });
  }
  if (table === undefined) throw new Error('parse nft: an empty script');
  return { table, operations };
}
