// The fields of networking.k8s.io/v1 NetworkPolicy, to warn about the ones the API server would silently
// drop. A misplaced field changes meaning without an error: the seed page that nests `ports` inside a
// `from` peer writes a rule that allows every port.

// 'leaf': any value; `fields`: an object with exactly these fields; `list`: a list of such nodes.
type Node = 'leaf' | { readonly fields: { readonly [field: string]: Node } } | { readonly list: Node };

const selector: Node = {
  fields: { matchLabels: 'leaf', matchExpressions: { list: { fields: { key: 'leaf', operator: 'leaf', values: 'leaf' } } } },
};
const peer: Node = { fields: { podSelector: selector, namespaceSelector: selector, ipBlock: { fields: { cidr: 'leaf', except: 'leaf' } } } };
const port: Node = { fields: { protocol: 'leaf', port: 'leaf', endPort: 'leaf' } };

const networkPolicy: Node = {
  fields: {
    apiVersion: 'leaf',
    kind: 'leaf',
    metadata: 'leaf',
    status: 'leaf',
    spec: {
      fields: {
        podSelector: selector,
        policyTypes: 'leaf',
        ingress: { list: { fields: { from: { list: peer }, ports: { list: port } } } },
        egress: { list: { fields: { to: { list: peer }, ports: { list: port } } } },
      },
    },
  },
};

export interface UnknownField {
  readonly path: readonly (string | number)[];
  readonly field: string;
}

function walk(value: unknown, node: Node, path: (string | number)[], out: UnknownField[]): void {
  if (node === 'leaf') return;
  if ('list' in node) {
    if (Array.isArray(value)) value.forEach((item: unknown, i: number) => walk(item, node.list, [...path, i], out));
    return;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
  for (const [field, child] of Object.entries(value)) {
    // Object.hasOwn: a field named `toString` or `constructor` is unknown, not Object.prototype's.
    const expected = Object.hasOwn(node.fields, field) ? node.fields[field] : undefined;
    if (expected === undefined) out.push({ path: [...path, field], field });
    else walk(child, expected, [...path, field], out);
  }
}

export function unknownPolicyFields(raw: unknown): UnknownField[] {
  const out: UnknownField[] = [];
  walk(raw, networkPolicy, [], out);
  return out;
}

/** A hint for the mistakes people make, beyond "unknown field". */
export function hintFor(unknown: UnknownField): string {
  const parent = unknown.path[unknown.path.length - 3];
  if (unknown.field === 'ports' && (parent === 'from' || parent === 'to')) {
    return `unknown field "ports" inside a \`${parent}\` peer: the API server drops it, so this rule allows every port; move \`ports\` up one level, beside \`${parent}\``;
  }
  if ((unknown.field === 'from' || unknown.field === 'to') && unknown.path[1] === 'spec' && unknown.path.length === 2) {
    return `unknown field "${unknown.field}" directly under spec: rules go inside \`ingress\` or \`egress\` lists`;
  }
  return `unknown field "${unknown.field}": the API server drops it`;
}
