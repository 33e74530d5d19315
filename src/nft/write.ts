// The one place that writes nft syntax: a transaction's operations as the script `nft -f` reads. A table
// block (see operations.segments) is written declaratively, with set and map elements 64 to a line;
// everything else one command per line.
import { segments, Transaction, type Declaration, type ElementItem, type Operation, type Rule } from './operations.js';
import { tableRef } from './vocabulary.js';

const ELEMENTS_PER_LINE = 64;

function lines<T>(items: readonly T[], perLine: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += perLine) out.push(items.slice(i, i + perLine));
  return out;
}

function item(element: ElementItem): string {
  if (element.value === undefined) return element.key;
  return 'jump' in element.value ? `${element.key} : jump ${element.value.jump}` : `${element.key} : "${element.value.counter}"`;
}

function typeClause(o: Extract<Declaration, { kind: 'set' | 'map' }>): string {
  if (o.kind === 'map') return `type ${o.key} : ${o.value};`;
  return `type ${(o.type ?? []).join(' . ')};${o.interval ? ' flags interval;' : ''}`;
}

/** An object inside `table ... { }`, indented by two. */
function declaration(o: Declaration): string[] {
  switch (o.kind) {
    case 'counter':
      return [`  counter ${o.name} { }`];
    case 'limit':
      return [`  limit ${o.name} { rate ${o.ratePerSecond}/second burst ${o.burstPackets} packets }`];
    case 'chain': {
      const hook = o.hook ? [`    type ${o.hook.type} hook ${o.hook.hook} priority ${o.hook.priority}; policy ${o.hook.policy};`] : [];
      return [`  chain ${o.name} {`, ...hook, ...(o.rules ?? []).map((r) => `    ${r.text}`), '  }'];
    }
    case 'set':
    case 'map': {
      const texts = o.kind === 'set' ? (o.elements ?? []) : (o.elements ?? []).map(item);
      if (texts.length === 0) return [`  ${o.kind} ${o.name} { ${typeClause(o)} }`];
      const chunks = lines(texts, ELEMENTS_PER_LINE).map((chunk, i, all) => `      ${chunk.join(', ')}${i < all.length - 1 ? ',' : ''}`);
      return [`  ${o.kind} ${o.name} {`, `    ${typeClause(o)}`, '    elements = {', ...chunks, '    }', '  }'];
    }
  }
}

/** One operation as commands; an object added with contents becomes the object, then its contents. */
function command(op: Operation, table: string): string[] {
  const o = op.object;
  const t = tableRef(table);
  switch (o.kind) {
    case 'table':
      return [`${op.verb} table ${t}`];
    case 'chain': {
      if (op.verb !== 'add') return [`${op.verb} chain ${t} ${o.name}`];
      const hook = o.hook ? ` { type ${o.hook.type} hook ${o.hook.hook} priority ${o.hook.priority}; policy ${o.hook.policy}; }` : '';
      return [`add chain ${t} ${o.name}${hook}`, ...(o.rules ?? []).map((r: Rule) => `add rule ${t} ${o.name} ${r.text}`)];
    }
    case 'rule':
      return [`add rule ${t} ${o.chain} ${o.rule.text}`];
    case 'set':
    case 'map': {
      if (op.verb !== 'add') return [`${op.verb} ${o.kind} ${t} ${o.name}`];
      const texts = o.kind === 'set' ? (o.elements ?? []) : (o.elements ?? []).map(item);
      const contents = lines(texts, ELEMENTS_PER_LINE).map((chunk) => `add element ${t} ${o.name} { ${chunk.join(', ')} }`);
      return [`add ${o.kind} ${t} ${o.name} { ${typeClause(o)} }`, ...contents];
    }
    case 'element':
      return [`${op.verb} element ${t} ${o.target} { ${o.items.map(item).join(', ')} }`];
    case 'counter':
      return [`${op.verb} counter ${t} ${o.name}`];
    case 'limit':
      return op.verb === 'add' ? [`add limit ${t} ${o.name} { rate ${o.ratePerSecond}/second burst ${o.burstPackets} packets }`] : [`delete limit ${t} ${o.name}`];
  }
}

/** The declarations as the lines inside a table block (for callers that show part of a table). */
export function writeDeclarations(declarations: readonly Declaration[]): string[] {
  return declarations.flatMap(declaration);
}

/** The transaction as an nft script: '' when it has no operations. Throws its first validation error. */
export function writeScript(transaction: Transaction): string {
  const table = transaction.table;
  const out: string[] = [];
  for (const segment of segments(transaction.operations)) {
    if (segment.kind === 'block') out.push(`table ${tableRef(table)} {`, ...writeDeclarations(segment.declarations), '}');
    else out.push(...command(segment.op, table));
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}
