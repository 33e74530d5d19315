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

/** Pods alternate over two nodes; each node numbers its pods from .10, as the scenario format does. */
function nodeOf(pods: readonly string[], pod: string): number {
  return pods.indexOf(pod) % 2;
}

function podIp(pods: readonly string[], pod: string): string {
  const node = nodeOf(pods, pod);
  const before = pods.slice(0, pods.indexOf(pod)).filter((p) => nodeOf(pods, p) === node).length;
  return `10.244.${node}.${10 + before}`;
}

/** makeLargeCIDRForIP (newest upstream): the masked /4 around the address. */
function largeCidr(ip: string): string {
  const first = Number(ip.split('.')[0]) & 0xf0;
  return `${first}.0.0.0/4`;
}

type Expect = (r: Reachability) => Reachability;
type Proto = 'TCP' | 'UDP' | 'SCTP';

interface CaseStep {
  /** Policies created or updated (same name = update) before the probes. */
  readonly apply: ReturnType<typeof policy>[];
  /** Policies deleted (cleanNetworkPolicies), as [namespace, name]. */
  readonly delete?: [string, string][];
  /** Namespace labels set (AddNamespaceLabel) and pod labels set (AddPodLabels), before the probes. */
  readonly namespaceLabels?: Record<string, Record<string, string>>;
  readonly podLabels?: Record<string, Record<string, string>>;
  /** [port, expected reachability, protocol (TCP)] per ValidateOrFail. */
  readonly probes: [number, Expect, Proto?][];
}

interface Case {
  readonly n: number;
  readonly it: string;
  readonly pods: string[];
  /** The ports each pod serves, as initializeResources(ports) ... */
  readonly ports: number[];
  /** ... on these protocols (TCP when absent). */
  readonly protocols?: Proto[];
  readonly steps: CaseStep[];
}

/** The common shape: TCP 80 served, one set of policies, one truth table. */
function simple(n: number, it: string, pods: string[], policies: ReturnType<typeof policy>[], expect: Expect, protocol: Proto = 'TCP', port = 80): Case {
  return { n, it, pods, ports: [port], protocols: [protocol], steps: [{ apply: policies, probes: [[port, expect, protocol]] }] };
}

/** Cases 14 and 15: x/a admits namespace y on one TCP port. */
function allowYOn(name: string, port: number) {
  return policy('x', name, podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: { [NS]: 'y' } } }], ports: [{ port, protocol: 'TCP' }] }] });
}

const allowFromY: Expect = (r) =>
  r
    .expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false)
    .expectPeer({ namespace: 'y' }, { namespace: 'x', pod: 'a' }, true)
    .expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false);

/** Cases 35 and 36: x/a may reach the large CIDR around x/b, except x/b itself. */
function exceptB() {
  const pods = ['x/a', 'x/b', 'x/c'];
  const ip = podIp(pods, 'x/b');
  return policy('x', 'allow-client-a-via-cidr-egress-rule', podLabel('a'), { egress: [{ to: [{ ipBlock: { cidr: largeCidr(ip), except: [`${ip}/32`] } }] }] });
}

const CASES: Case[] = [
  simple(
    1,
    "should support a 'default-deny-ingress' policy",
    ['x/a', 'x/b', 'y/a', 'y/b'],
    [policy('x', 'deny-ingress', {}, { ingress: [] })],
    (r) => r.expectPeer({}, { namespace: 'x' }, false),
  ),
  simple(
    2,
    "should support a 'default-deny-all' policy",
    ['x/a', 'x/b', 'y/a'],
    [policy('x', 'deny-all', {}, { ingress: [], egress: [] })],
    (r) => r.expectPeer({}, { namespace: 'x' }, false).expectPeer({ namespace: 'x' }, {}, false),
  ),
  simple(
    3,
    'should enforce policy to allow traffic from pods within server namespace based on PodSelector',
    ['x/a', 'x/b', 'x/c', 'y/a'],
    [policy('x', 'x-a-allows-x-b', podLabel('a'), { ingress: [{ from: [{ podSelector: podLabel('b') }] }] })],
    (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true),
  ),
  simple(
    4,
    'should enforce policy to allow ingress traffic for a target',
    ['x/a', 'x/b', 'y/a'],
    [
      policy('x', 'deny-all', {}, { ingress: [] }),
      policy('x', 'allow-all-to-a', podLabel('a'), { ingress: [{ from: [{ podSelector: {}, namespaceSelector: {} }] }] }),
    ],
    (r) => r.expectAllIngress('x/a', true).expectAllIngress('x/b', false),
  ),
  simple(
    5,
    'should enforce policy to allow ingress traffic from pods in all namespaces',
    ['x/a', 'x/b', 'y/a', 'z/a'],
    [policy('x', 'allow-from-another-ns', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: {} } }] }] })],
    (r) => r,
  ),
  simple(
    6,
    'should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector',
    ['x/a', 'x/b', 'y/a', 'z/a'],
    [policy('x', 'allow-client-a-via-ns-selector', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: { [NS]: 'y' } } }] }] })],
    (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false),
  ),
  simple(
    7,
    'should enforce policy based on PodSelector with MatchExpressions',
    ['x/a', 'x/b', 'y/a'],
    [policy('x', 'x-a-allows-x-b', podLabel('a'), { ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['b'] }] } }] }] })],
    (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true),
  ),
  simple(
    8,
    'should enforce policy based on NamespaceSelector with MatchExpressions',
    ['x/a', 'x/b', 'y/a', 'z/a'],
    [policy('x', 'allow-ns-y-match-selector', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS, operator: 'In', values: ['y'] }] } }] }] })],
    (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false),
  ),
  simple(
    9,
    'should enforce policy based on PodSelector or NamespaceSelector',
    ['x/a', 'x/b', 'x/c', 'y/a'],
    [
      policy('x', 'allow-ns-y-match-selector', podLabel('a'), {
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS, operator: 'NotIn', values: ['x'] }] } }, { podSelector: podLabel('b') }] }],
      }),
    ],
    (r) => r.expect('x/a', 'x/a', false).expect('x/c', 'x/a', false),
  ),
  simple(
    10,
    'should enforce policy based on PodSelector and NamespaceSelector',
    ['x/a', 'x/b', 'y/a', 'y/b', 'z/b'],
    [
      policy('x', 'allow-ns-y-podselector-and-nsselector', podLabel('a'), {
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: NS, operator: 'NotIn', values: ['x'] }] }, podSelector: podLabel('b') }] }],
      }),
    ],
    (r) => r.expectAllIngress('x/a', false).expect('y/b', 'x/a', true).expect('z/b', 'x/a', true),
  ),
  simple(
    11,
    'should enforce policy based on Multiple PodSelectors and NamespaceSelectors',
    ['x/a', 'x/b', 'y/a', 'y/b', 'y/c'],
    [
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
    (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expect('y/a', 'x/a', false),
  ),
  simple(
    12,
    'should enforce policy based on any PodSelectors',
    ['x/a', 'x/b', 'x/c'],
    [policy('x', 'allow-ns-x-pod-b-c', podLabel('a'), { ingress: [{ from: [{ podSelector: podLabel('b') }, { podSelector: podLabel('c') }] }] })],
    (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true).expect('x/c', 'x/a', true),
  ),
  simple(
    13,
    'should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector',
    ['x/a', 'x/b', 'y/a', 'y/b', 'z/a'],
    [policy('x', 'allow-ns-y-pod-a-via-namespace-pod-selector', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: { [NS]: 'y' } }, podSelector: podLabel('a') }] }] })],
    (r) => r.expectAllIngress('x/a', false).expect('y/a', 'x/a', true),
  ),
  {
    n: 14,
    it: 'should enforce policy based on Ports',
    pods: ['x/a', 'x/b', 'y/a', 'y/b', 'z/a'],
    ports: [81],
    steps: [{ apply: [allowYOn('allow-client-a-via-ns-selector', 81)], probes: [[81, allowFromY]] }],
  },
  {
    n: 15,
    it: 'should enforce multiple, stacked policies with overlapping podSelectors',
    pods: ['x/a', 'x/b', 'y/a', 'y/b', 'z/a'],
    ports: [80, 81],
    steps: [
      { apply: [allowYOn('allow-client-a-via-ns-selector', 81)], probes: [[81, allowFromY], [80, (r) => r.expectAllIngress('x/a', false)]] },
      { apply: [allowYOn('allow-client-a-via-ns-selector-80', 80)], probes: [[80, allowFromY]] },
    ],
  },
  {
    n: 16,
    it: 'should support allow-all policy',
    pods: ['x/a', 'x/b', 'y/a'],
    ports: [80, 81],
    steps: [{ apply: [policy('x', 'allow-all', { matchLabels: {} }, { ingress: [{}] })], probes: [[80, (r) => r], [81, (r) => r]] }],
  },
  {
    n: 17,
    it: 'should allow ingress access on one named port',
    pods: ['x/a', 'x/b', 'y/a'],
    ports: [80, 81],
    steps: [
      {
        apply: [policy('x', 'allow-all', { matchLabels: {} }, { ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] })],
        probes: [[81, (r) => r], [80, (r) => r.expectPeer({}, { namespace: 'x' }, false)]],
      },
    ],
  },
  {
    n: 18,
    it: 'should allow ingress access from namespace on one named port',
    pods: ['x/a', 'x/b', 'y/a', 'z/a'],
    ports: [80, 81],
    steps: [
      {
        apply: [policy('x', 'allow-client-a-via-ns-selector-80', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: { [NS]: 'y' } } }], ports: [{ port: 'serve-80-tcp', protocol: 'TCP' }] }] })],
        probes: [
          [80, (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false)],
          [81, (r) => r.expectAllIngress('x/a', false)],
        ],
      },
    ],
  },
  {
    n: 19,
    it: 'should allow egress access on one named port',
    pods: ['x/a', 'y/a'],
    ports: [80, 81],
    steps: [
      {
        apply: [policy('x', 'allow-egress', { matchLabels: {} }, { egress: [{ ports: [{ port: 'serve-80-tcp' }] }] })],
        probes: [[80, (r) => r], [81, (r) => r.expectPeer({ namespace: 'x' }, {}, false)]],
      },
    ],
  },
  {
    n: 20,
    it: 'should enforce updated policy',
    pods: ['x/a', 'y/a'],
    ports: [81],
    steps: [
      { apply: [policy('x', 'allow-all-mutate-to-deny-all', { matchLabels: {} }, { ingress: [{}] })], probes: [[81, (r) => r]] },
      // UpdatePolicy with Ingress = [] (policyTypes stays [Ingress]): deny all ingress to x.
      { apply: [policy('x', 'allow-all-mutate-to-deny-all', { matchLabels: {} }, { ingress: [] })], probes: [[81, (r) => r.expectPeer({}, { namespace: 'x' }, false)]] },
    ],
  },
  {
    n: 21,
    it: 'should allow ingress access from updated namespace',
    pods: ['x/a', 'y/a'],
    ports: [80],
    steps: [
      { apply: [policy('x', 'allow-client-a-via-ns-selector', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns2: 'updated' } } }] }] })], probes: [[80, (r) => r.expectAllIngress('x/a', false)]] },
      { apply: [], namespaceLabels: { y: { ns2: 'updated' } }, probes: [[80, (r) => r.expectAllIngress('x/a', false).expectPeer({ namespace: 'y' }, {}, true)]] },
    ],
  },
  {
    n: 22,
    it: 'should allow ingress access from updated pod',
    pods: ['x/a', 'x/b'],
    ports: [80],
    steps: [
      { apply: [policy('x', 'allow-client-a-via-pod-selector', podLabel('a'), { ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b', pod2: 'updated' } } }] }] })], probes: [[80, (r) => r.expectAllIngress('x/a', false)]] },
      { apply: [], podLabels: { 'x/b': { pod: 'b', pod2: 'updated' } }, probes: [[80, (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true)]] },
    ],
  },
  simple(
    23,
    'should deny ingress from pods on other namespaces',
    ['x/a', 'x/b', 'y/a', 'z/a'],
    [policy('x', 'deny-empty-policy', {}, { ingress: [{ from: [{ podSelector: { matchLabels: {} } }] }] })],
    (r) => r.expectPeer({ namespace: 'y' }, { namespace: 'x' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x' }, false),
  ),
  {
    n: 24,
    it: 'should deny ingress access to updated pod',
    pods: ['x/a', 'y/a'],
    ports: [80],
    steps: [
      { apply: [policy('x', 'deny-ingress-via-label-selector', { matchLabels: { target: 'isolated' } }, { ingress: [] })], probes: [[80, (r) => r]] },
      { apply: [], podLabels: { 'x/a': { pod: 'a', target: 'isolated' } }, probes: [[80, (r) => r.expectAllIngress('x/a', false)]] },
    ],
  },
  simple(25, 'should deny egress from pods based on PodSelector', ['x/a', 'x/b', 'y/a'], [policy('x', 'deny-egress-pod-a', podLabel('a'), { egress: [] })], (r) => r.expectAllEgress('x/a', false)),
  simple(26, 'should deny egress from all pods in a namespace', ['x/a', 'x/b', 'y/a'], [policy('x', 'deny-egress-ns-x', {}, { egress: [] })], (r) => r.expectPeer({ namespace: 'x' }, {}, false)),
  {
    n: 27,
    it: 'should work with Ingress, Egress specified together',
    pods: ['x/a', 'x/b', 'x/c', 'y/a'],
    ports: [80, 81],
    steps: [
      {
        apply: [policy('x', 'allow-client-a-via-pod-selector', podLabel('a'), { ingress: [{ from: [{ podSelector: podLabel('b') }] }], egress: [{ ports: [{ port: 80 }] }], policyTypes: ['Egress', 'Ingress'] })],
        probes: [
          [80, (r) => r.expectAllIngress('x/a', false).expect('x/b', 'x/a', true)],
          [81, (r) => r.expectAllIngress('x/a', false).expectAllEgress('x/a', false).expect('x/b', 'x/a', true)],
        ],
      },
    ],
  },
  simple(
    28,
    'should support denying of egress traffic on the client side (even if the server explicitly allows this traffic)',
    ['x/a', 'y/a', 'y/b'],
    [
      policy('x', 'allow-to-ns-y-pod-a', podLabel('a'), { egress: [{ to: [{ namespaceSelector: { matchLabels: { [NS]: 'y' } }, podSelector: podLabel('a') }] }] }),
      policy('y', 'allow-from-xa-on-ya-match-selector', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: { [NS]: 'x' } }, podSelector: podLabel('a') }] }] }),
      policy('y', 'allow-from-xa-on-yb-match-selector', podLabel('b'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: { [NS]: 'x' } }, podSelector: podLabel('a') }] }] }),
    ],
    (r) =>
      r
        .expectPeer({ namespace: 'x', pod: 'a' }, {}, false)
        .expectPeer({}, { namespace: 'y', pod: 'a' }, false)
        .expectPeer({ namespace: 'x', pod: 'a' }, { namespace: 'y', pod: 'a' }, true)
        .expectPeer({}, { namespace: 'y', pod: 'b' }, false),
  ),
  simple(
    29,
    'should enforce egress policy allowing traffic to a server in a different namespace based on PodSelector and NamespaceSelector',
    ['x/a', 'y/a', 'y/b'],
    [policy('x', 'allow-to-ns-y-pod-a', podLabel('a'), { egress: [{ to: [{ namespaceSelector: { matchLabels: { [NS]: 'y' } }, podSelector: podLabel('a') }] }] })],
    (r) => r.expectAllEgress('x/a', false).expect('x/a', 'y/a', true),
  ),
  {
    n: 30,
    it: 'should enforce ingress policy allowing any port traffic to a server on a specific protocol',
    pods: ['x/a', 'y/a'],
    ports: [80],
    protocols: ['TCP', 'UDP'],
    steps: [
      {
        apply: [policy('x', 'allow-ingress-by-proto', podLabel('a'), { ingress: [{ ports: [{ protocol: 'TCP' }] }] })],
        probes: [[80, (r) => r, 'TCP'], [80, (r) => r.expectPeer({}, { namespace: 'x', pod: 'a' }, false), 'UDP']],
      },
    ],
  },
  {
    n: 31,
    it: 'should enforce multiple ingress policies with ingress allow-all policy taking precedence',
    pods: ['x/a', 'y/a'],
    ports: [81],
    steps: [
      { apply: [policy('x', 'allow-ingress-port-80', { matchLabels: {} }, { ingress: [{ ports: [{ port: 80 }] }] })], probes: [[81, (r) => r.expectPeer({}, { namespace: 'x' }, false)]] },
      { apply: [policy('x', 'allow-ingress', { matchLabels: {} }, { ingress: [{}] })], probes: [[81, (r) => r]] },
    ],
  },
  {
    n: 32,
    it: 'should enforce multiple egress policies with egress allow-all policy taking precedence',
    pods: ['x/a', 'y/a'],
    ports: [81],
    steps: [
      { apply: [policy('x', 'allow-egress-port-80', { matchLabels: {} }, { egress: [{ ports: [{ port: 80 }] }] })], probes: [[81, (r) => r.expectPeer({ namespace: 'x' }, {}, false)]] },
      { apply: [policy('x', 'allow-egress', { matchLabels: {} }, { egress: [{}] })], probes: [[81, (r) => r]] },
    ],
  },
  {
    n: 33,
    it: 'should stop enforcing policies after they are deleted',
    pods: ['x/a', 'y/a'],
    ports: [80],
    steps: [
      { apply: [policy('x', 'deny-all', {}, { ingress: [], egress: [] })], probes: [[80, (r) => r.expectPeer({ namespace: 'x' }, {}, false).expectPeer({}, { namespace: 'x' }, false)]] },
      { apply: [], delete: [['x', 'deny-all']], probes: [[80, (r) => r]] },
    ],
  },
  simple(
    34,
    'should allow egress access to server in CIDR block',
    ['x/a', 'y/a', 'y/b'],
    [policy('x', 'allow-client-a-via-cidr-egress-rule', podLabel('a'), { egress: [{ to: [{ ipBlock: { cidr: `${podIp(['x/a', 'y/a', 'y/b'], 'y/b')}/32` } }] }] })],
    (r) => r.expectAllEgress('x/a', false).expect('x/a', 'y/b', true),
  ),
  simple(
    35,
    'should enforce except clause while egress access to server in CIDR block',
    ['x/a', 'x/b', 'x/c'],
    [exceptB()],
    (r) => r.expect('x/a', 'x/b', false),
  ),
  {
    n: 36,
    it: 'should ensure an IP overlapping both IPBlock.CIDR and IPBlock.Except is allowed',
    pods: ['x/a', 'x/b', 'x/c'],
    ports: [80],
    steps: [
      { apply: [exceptB()], probes: [[80, (r) => r.expect('x/a', 'x/b', false)]] },
      // UpdatePolicy of the same name: the block is now x/b's address alone.
      {
        apply: [policy('x', 'allow-client-a-via-cidr-egress-rule', podLabel('a'), { egress: [{ to: [{ ipBlock: { cidr: `${podIp(['x/a', 'x/b', 'x/c'], 'x/b')}/32` } }] }] })],
        probes: [[80, (r) => r.expectAllEgress('x/a', false).expect('x/a', 'x/b', true)]],
      },
    ],
  },
  {
    n: 37,
    it: 'should enforce policies to check ingress and egress policies can be controlled independently based on PodSelector',
    pods: ['x/a', 'x/b', 'y/a'],
    ports: [80],
    steps: [
      { apply: [policy('x', 'allow-egress-for-target', podLabel('a'), { egress: [{}] })], probes: [[80, (r) => r]] },
      { apply: [policy('x', 'deny-ingress-via-label-selector', podLabel('a'), { ingress: [] })], probes: [[80, (r) => r.expectAllIngress('x/a', false)]] },
    ],
  },
  {
    n: 38,
    it: "should not mistakenly treat 'protocol: SCTP' as 'protocol: TCP', even if the plugin doesn't support SCTP",
    pods: ['x/a', 'y/a'],
    ports: [81],
    steps: [
      {
        apply: [policy('x', 'deny-ingress', {}, { ingress: [] }), policy('x', 'allow-only-sctp-ingress-on-port-81', podLabel('a'), { ingress: [{ ports: [{ port: 81, protocol: 'SCTP' }] }] })],
        probes: [[81, (r) => r.expectPeer({}, { namespace: 'x' }, false)]],
      },
    ],
  },
  {
    n: 39,
    it: "should properly isolate pods that are selected by a policy allowing SCTP, even if the plugin doesn't support SCTP",
    pods: ['x/a', 'y/a'],
    ports: [81],
    steps: [{ apply: [policy('x', 'allow-only-sctp-ingress-on-port-80', podLabel('a'), { ingress: [{ ports: [{ port: 80, protocol: 'SCTP' }] }] })], probes: [[81, (r) => r.expectAllIngress('x/a', false)]] }],
  },
  {
    n: 40,
    it: 'should not allow access by TCP when a policy specifies only UDP',
    pods: ['x/a', 'y/a'],
    ports: [81],
    steps: [{ apply: [policy('x', 'allow-only-udp-ingress-on-port-81', podLabel('a'), { ingress: [{ ports: [{ port: 81, protocol: 'UDP' }] }] })], probes: [[81, (r) => r.expectAllIngress('x/a', false)]] }],
  },
  simple(
    41,
    'should enforce policy to allow traffic based on NamespaceSelector with MatchLabels using default ns label',
    ['x/a', 'x/b', 'y/a', 'z/a'],
    [policy('x', 'allow-client-a-via-ns-selector-for-immutable-ns-label', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: { [NS]: 'y' } } }] }] })],
    (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false),
  ),
  simple(
    42,
    'should enforce policy based on NamespaceSelector with MatchExpressions using default ns label',
    ['x/a', 'x/b', 'y/a', 'z/a'],
    [policy('x', 'allow-ns-y-match-selector-for-immutable-ns-label', podLabel('a'), { egress: [{ to: [{ namespaceSelector: { matchExpressions: [{ key: NS, operator: 'NotIn', values: ['y'] }] } }] }] })],
    (r) => r.expectPeer({ namespace: 'x', pod: 'a' }, { namespace: 'y' }, false),
  ),
  // The UDP suite (43-45) and the SCTP suite (46-48) repeat three cases on those protocols.
  ...(['UDP', 'SCTP'] as const).flatMap((protocol, i): Case[] => [
    simple(43 + 3 * i, "should support a 'default-deny-ingress' policy", ['x/a', 'x/b', 'y/a', 'y/b'], [policy('x', 'deny-all', {}, { ingress: [] })], (r) => r.expectPeer({}, { namespace: 'x' }, false), protocol),
    simple(
      44 + 3 * i,
      'should enforce policy based on Ports',
      ['x/a', 'x/b', 'y/a', 'z/a'],
      [policy('x', 'allow-ingress-on-port-81-ns-x', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: { [NS]: 'y' } } }], ports: [{ port: 81, protocol }] }] })],
      (r) => r.expectPeer({ namespace: 'x' }, { namespace: 'x', pod: 'a' }, false).expectPeer({ namespace: 'z' }, { namespace: 'x', pod: 'a' }, false),
      protocol,
      81,
    ),
    simple(
      45 + 3 * i,
      'should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector',
      ['x/a', 'x/b', 'y/a'],
      [policy('x', 'allow-ns-y-pod-a-via-namespace-pod-selector', podLabel('a'), { ingress: [{ from: [{ namespaceSelector: { matchLabels: { [NS]: 'y' } }, podSelector: podLabel('a') }] }] })],
      (r) => r.expectAllIngress('x/a', false).expect('y/a', 'x/a', true),
      protocol,
    ),
  ]),
];

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').replace(/^should-/, '').slice(0, 60).replace(/-$/, '');
}

for (const c of CASES) {
  const namespaces = [...new Set(c.pods.map((p) => p.split('/')[0]!))];
  const suite = c.n >= 46 ? '-sctp' : c.n >= 43 ? '-udp' : '';
  const name = `upstream-${String(c.n).padStart(2, '0')}${suite}-${slug(c.it)}`;
  const scenario = {
    name,
    description: `Upstream netpol e2e case ${c.n} (${c.n >= 46 ? 'SCTP' : c.n >= 43 ? 'UDP' : 'TCP'} suite): "${c.it}".`,
    namespaces: namespaces.map((n) => ({ name: n })),
    pods: c.pods.map((p) => {
      const [namespace, pod] = p.split('/') as [string, string];
      const ports = (c.protocols ?? ['TCP']).flatMap((protocol) => c.ports.map((port) => ({ port, protocol, name: `serve-${port}-${protocol.toLowerCase()}` })));
      return { namespace, name: pod, labels: { pod }, node: nodeOf(c.pods, p), ips: [podIp(c.pods, p)], ports };
    }),
    steps: c.steps.map((step, i) => ({
      name: `${c.it} (${i + 1})`,
      apply: [
        ...step.apply,
        ...Object.entries(step.namespaceLabels ?? {}).map(([ns, labels]) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } })),
        ...Object.entries(step.podLabels ?? {}).map(([key, labels]) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: key.split('/')[0], name: key.split('/')[1], labels } })),
      ],
      ...(step.delete ? { delete: step.delete.map(([namespace, name]) => ({ kind: 'NetworkPolicy', namespace, name })) } : {}),
      // Upstream probes ClusterIPs; the pod IPs are probed as well.
      probes: step.probes.flatMap(([port, , protocol = 'TCP']) => [{ port, protocol }, { port, protocol, via: 'service' }]),
      expect: Object.fromEntries(
        step.probes.flatMap(([port, expect, protocol = 'TCP']) => {
          const rows = expect(new Reachability(c.pods)).rows();
          return [[`${port}/${protocol}`, rows], [`${port}/${protocol}/service`, rows]];
        }),
      ),
    })),
  };
  writeFileSync(join(OUT, `${name}.yaml`), `# Generated by e2e/conformance/generate.ts from upstream's network_policy.go; do not edit.\n${stringify(scenario)}`);
}
console.log(`wrote ${CASES.length} upstream cases to ${OUT}`);
