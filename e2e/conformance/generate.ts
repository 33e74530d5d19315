// Writes the upstream Kubernetes NetworkPolicy e2e cases (test/e2e/network/netpol/network_policy.go) as
// scenario files, one per case, in this directory. Each case is written from the upstream source: the
// same pods (namespaces x, y, z; pods a, b, c labelled pod=<name>), ports, policies, and the expected
// truth table built with upstream's own mutators (ExpectPeer, ExpectAllIngress, Expect), applied in order.
// The loopback cells are '-', as upstream ignores them.
//
// Usage: node generate.js   (make conformance-scenarios)
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'e2e', 'conformance');
const NS = 'kubernetes.io/metadata.name';

type Peer = { namespace?: string; pod?: string };

/** Upstream's Reachability: every cell true, then mutators in order. */
class Reachability {
  private readonly cells = new Map<string, boolean>();
  constructor(readonly pods: readonly string[]) {
    for (const from of pods) for (const to of pods) this.cells.set(`${from}>${to}`, true);
  }
  private matches(peer: Peer, pod: string): boolean {
    const [ns, name] = pod.split('/');
    return (peer.namespace === undefined || peer.namespace === ns) && (peer.pod === undefined || peer.pod === name);
  }
  expectPeer(from: Peer, to: Peer, allowed: boolean): this {
    for (const f of this.pods) for (const t of this.pods) if (this.matches(from, f) && this.matches(to, t)) this.cells.set(`${f}>${t}`, allowed);
    return this;
  }
  expectAllIngress(pod: string, allowed: boolean): this {
    for (const f of this.pods) this.cells.set(`${f}>${pod}`, allowed);
    return this;
  }
  expectAllEgress(pod: string, allowed: boolean): this {
    for (const t of this.pods) this.cells.set(`${pod}>${t}`, allowed);
    return this;
  }
  expect(from: string, to: string, allowed: boolean): this {
    this.cells.set(`${from}>${to}`, allowed);
    return this;
  }
  rows(): Record<string, string> {
    return Object.fromEntries(this.pods.map((f) => [f, this.pods.map((t) => (f === t ? '-' : this.cells.get(`${f}>${t}`) ? '.' : 'X')).join('')]));
  }
}

type Rule = Record<string, unknown>;

/** GenNetworkPolicyWithName... with SetSpecIngressRules / SetSpecEgressRules: each adds its policy type. */
function policy(namespace: string, name: string, podSelector: Record<string, unknown>, rules: { ingress?: Rule[]; egress?: Rule[]; policyTypes?: string[] }) {
  const policyTypes = rules.policyTypes ?? [...(rules.ingress ? ['Ingress'] : []), ...(rules.egress ? ['Egress'] : [])];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace },
    spec: { podSelector, policyTypes, ...(rules.ingress?.length ? { ingress: rules.ingress } : {}), ...(rules.egress?.length ? { egress: rules.egress } : {}) },
  };
}

const podLabel = (name: string) => ({ matchLabels: { pod: name } });

interface Case {
  readonly n: number;
  readonly it: string;
  readonly pods: string[];
  readonly policies: ReturnType<typeof policy>[];
  readonly expect: (r: Reachability) => Reachability;
  readonly port?: number;
}

const CASES: Case[] = [
  {
    n: 1,
    it: "should support a 'default-deny-ingress' policy",
    pods: ['x/a', 'x/b', 'y/a', 'y/b'],
    policies: [policy('x', 'deny-ingress', {}, { ingress: [] })],
    expect: (r) => r.expectPeer({}, { namespace: 'x' }, false),
  },
  {
    n: 2,
    it: "should support a 'default-deny-all' policy",
    pods: ['x/a', 'x/b', 'y/a'],
    policies: [policy('x', 'deny-all', {}, { ingress: [], egress: [] })],
    expect: (r) => r.expectPeer({}, { namespace: 'x' }, false).expectPeer({ namespace: 'x' }, {}, false),
  },
  {
    n: 3,
    it: 'should enforce policy to allow traffic from pods within server namespace based on PodSelector',
    pods: ['x/a', 'x/b', 'x/c', 'y/a'],
    policies: [policy('x', 'x-a-allows-x-b', podLabel('a'), { ingress: [{ from: [{ podSelector: podLabel('b') }] }] })],
    expect: (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true),
  },
  {
    n: 4,
    it: 'should enforce policy to allow ingress traffic for a target',
    pods: ['x/a', 'x/b', 'y/a'],
    policies: [
      policy('x', 'deny-all', {}, { ingress: [] }),
      policy('x', 'allow-all-to-a', podLabel('a'), { ingress: [{ from: [{ podSelector: {}, namespaceSelector: {} }] }] }),
    ],
    expect: (r) => r.expectAllIngress('x/a', true).expectAllIngress('x/b', false),
  },
  {
    n: 5,
    it: 'should enforce policy to allow ingress traffic from pods in all namespaces',
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    policies: [policy('x', 'allow-from-another-ns', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: {} } }] }] })],
    expect: (r) => r,
  },
  {
    n: 6,
    it: 'should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector',
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    policies: [policy('x', 'allow-client-a-via-ns-selector', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: { [NS]: 'y' } } }] }] })],
    expect: (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false),
  },
  {
    n: 7,
    it: 'should enforce policy based on PodSelector with MatchExpressions',
    pods: ['x/a', 'x/b', 'y/a'],
    policies: [policy('x', 'x-a-allows-x-b', podLabel('a'), { ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] } }] }] })],
    expect: (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true),
  },
  {
    n: 8,
    it: 'should enforce policy based on NamespaceSelector with MatchExpressions',
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    policies: [policy('x', 'allow-ns-y-match-selector', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS, operator: 'In', values: ['y'] }] } }] }] })],
    expect: (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false),
  },
  {
    n: 9,
    it: 'should enforce policy based on PodSelector or NamespaceSelector',
    pods: ['x/a', 'x/b', 'x/c', 'y/a'],
    policies: [
      policy('x', 'allow-ns-y-match-selector', podLabel('a'), {
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS, operator: 'NotIn', values: ['x'] }] } }, { podSelector: podLabel('b') }] }],
      }),
    ],
    expect: (r) => r.expect('x/a', 'x/a', false).expect('x/c', 'x/a', false),
  },
  {
    n: 10,
    it: 'should enforce policy based on PodSelector and NamespaceSelector',
    pods: ['x/a', 'x/b', 'y/a', 'y/b', 'z/b'],
    policies: [
      policy('x', 'allow-ns-y-podselector-and-nsselector', podLabel('a'), {
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS, operator: 'NotIn', values: ['x'] }] }, podSelector: podLabel('b') }] }],
      }),
    ],
    expect: (r) => r.expectAllIngress('x/a', false).expect('y/b', 'x/a', true).expect('z/b', 'x/a', true),
  },
  {
    n: 11,
    it: 'should enforce policy based on Multiple PodSelectors and NamespaceSelectors',
    pods: ['x/a', 'x/b', 'y/a', 'y/b', 'y/c'],
    policies: [
      policy('x', 'allow-ns-y-z-pod-b-c', podLabel('a'), {
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchExpressions: [{ key: NS, operator: 'NotIn', values: ['x'] }] },
                podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b', 'c'] }] },
              },
            ],
          },
        ],
      }),
    ],
    expect: (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expect('y/a', 'x/a', false),
  },
  {
    n: 12,
    it: 'should enforce policy based on any PodSelectors',
    pods: ['x/a', 'x/b', 'x/c'],
    policies: [policy('x', 'allow-ns-x-pod-b-c', podLabel('a'), { ingress: [{ from: [{ podSelector: podLabel('b') }, { podSelector: podLabel('c') }] }] })],
    expect: (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true).expect('x/c', 'x/a', true),
  },
];

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').replace(/^should-/, '').slice(0, 60).replace(/-$/, '');
}

for (const c of CASES) {
  const port = c.port ?? 80;
  const namespaces = [...new Set(c.pods.map((p) => p.split('/')[0]!))];
  const reachability = c.expect(new Reachability(c.pods));
  const name = `upstream-${String(c.n).padStart(2, '0')}-${slug(c.it)}`;
  const scenario = {
    name,
    description: `Upstream netpol e2e case ${c.n} (TCP suite): "${c.it}".`,
    namespaces: namespaces.map((n) => ({ name: n })),
    pods: c.pods.map((p) => {
      const [namespace, pod] = p.split('/') as [string, string];
      return { namespace, name: pod, labels: { pod }, ports: [{ port, protocol: 'TCP', name: `serve-${port}-tcp` }] };
    }),
    steps: [
      {
        name: c.it,
        apply: c.policies,
        probes: [{ port, protocol: 'TCP' }, { port, protocol: 'TCP', via: 'service' }],
        expect: { [`${port}/TCP`]: reachability.rows(), [`${port}/TCP/service`]: reachability.rows() },
      },
    ],
  };
  writeFileSync(join(OUT, `${name}.yaml`), `# Generated by e2e/conformance/generate.ts from upstream's network_policy.go; do not edit.\n${stringify(scenario)}`);
}
console.log(`wrote ${CASES.length} upstream cases to ${OUT}`);
