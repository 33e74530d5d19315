// Random cluster events for property tests: a small universe of namespaces, labels, addresses (with
// clashes on purpose) and policies, so that random sequences hit every interaction.
import fc from 'fast-check';
import type { PolicyEngine } from '../../src/engine/engine.js';
import { NAMESPACE_NAME_LABEL } from '../../src/model/normalize.js';
import type { LabelSelector, Namespace, NetworkPolicy, Peer, Pod, PolicyPort, PolicyRule } from '../../src/model/types.js';
import { ValueSet } from '../../src/model/values.js';
import { referenceSnapshot } from './reference.js';

const NAMESPACES = ['a', 'b', 'c'];
const NODES = ['n1', 'n2'];
const IPS = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.1.1', 'fd00::1', 'fd00::2'];
const CIDRS = ['10.0.0.0/24', '10.0.0.0/16', 'fd00::/64'];
const EXCEPTS: Record<string, string[]> = { '10.0.0.0/24': ['10.0.0.2/32'], '10.0.0.0/16': ['10.0.1.0/24'], 'fd00::/64': ['fd00::2/128'] };

/**
 * Label keys and values: ordinary ones, and names that JavaScript objects inherit (valid Kubernetes label
 * keys, so they reach the engine). `__proto__` is not a valid key (normalize rejects it) but the engine
 * must not be fooled by it either. Both plain and prototype-less maps are drawn.
 */
export const LABEL_KEYS = ['app', 'tier', 'toString', 'constructor', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', 'toLocaleString', '__proto__'];
export const LABEL_VALUES = ['x', 'y', 'toString', 'constructor'];
const labelKey = fc.constantFrom(...LABEL_KEYS);
const labelValueArb = fc.constantFrom(...LABEL_VALUES);

export const labels = fc.dictionary(labelKey, labelValueArb, { maxKeys: 2 });

export const selector: fc.Arbitrary<LabelSelector> = fc.record({
  matchLabels: fc.dictionary(labelKey, labelValueArb, { maxKeys: 1 }),
  matchExpressions: fc.array(
    fc.oneof(
      fc.record({ key: labelKey, operator: fc.constantFrom('In' as const, 'NotIn' as const), values: fc.subarray(LABEL_VALUES, { minLength: 1 }).map((v) => new ValueSet(v)) }),
      fc.record({ key: labelKey, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const), values: fc.constant(new ValueSet([])) }),
    ),
    { maxLength: 1 },
  ),
});

const pod: fc.Arbitrary<Pod> = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  name: fc.constantFrom('p1', 'p2', 'p3', 'p4'),
  labels,
  node: fc.constantFrom(...NODES),
  ips: fc.subarray(IPS, { maxLength: 2 }),
  phase: fc.constantFrom('Running' as const, 'Running' as const, 'Pending' as const, 'Succeeded' as const),
  hostNetwork: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  ports: fc.subarray([
    { name: 'http', port: 80, protocol: 'TCP' as const },
    { name: 'http', port: 8080, protocol: 'TCP' as const },
    { name: 'dns', port: 53, protocol: 'UDP' as const },
    { port: 81, protocol: 'TCP' as const },
  ]).map((ports) => ports.filter((p, i) => !ports.slice(0, i).some((q) => q.name !== undefined && q.name === p.name))),
});

const namespace: fc.Arbitrary<Namespace> = fc.record({ name: fc.constantFrom(...NAMESPACES), labels }).map((n) => ({
  name: n.name,
  labels: { ...n.labels, [NAMESPACE_NAME_LABEL]: n.name },
}));

const peer: fc.Arbitrary<Peer> = fc.oneof(
  fc.record({ kind: fc.constant('pods' as const), namespaceSelector: fc.option(selector, { nil: null }), podSelector: selector }),
  fc.constantFrom(...CIDRS).chain((cidr) =>
    fc.record({ kind: fc.constant('ipBlock' as const), cidr: fc.constant(cidr), except: fc.subarray(EXCEPTS[cidr]!) }),
  ),
);

const policyPort: fc.Arbitrary<PolicyPort> = fc.oneof(
  fc.record({ kind: fc.constant('number' as const), protocol: fc.constantFrom('TCP' as const, 'UDP' as const), port: fc.constantFrom(80, 53), endPort: fc.constantFrom(80, 90) }).map((p) => ({ ...p, endPort: Math.max(p.port, p.endPort) })),
  fc.record({ kind: fc.constant('named' as const), protocol: fc.constantFrom('TCP' as const, 'UDP' as const), name: fc.constantFrom('http', 'dns') }),
  fc.record({ kind: fc.constant('any' as const), protocol: fc.constantFrom('TCP' as const, 'SCTP' as const) }),
);

const rule: fc.Arbitrary<PolicyRule> = fc.record({
  peers: fc.option(fc.array(peer, { minLength: 1, maxLength: 2 }), { nil: null }),
  ports: fc.option(fc.array(policyPort, { minLength: 1, maxLength: 2 }), { nil: null }),
});

const policy: fc.Arbitrary<NetworkPolicy> = fc.record({
  namespace: fc.constantFrom(...NAMESPACES),
  name: fc.constantFrom('np1', 'np2', 'np3'),
  podSelector: selector,
  ingress: fc.option(fc.array(rule, { maxLength: 2 }), { nil: null }),
  egress: fc.option(fc.array(rule, { maxLength: 2 }), { nil: null }),
});

export type Event =
  | { type: 'upsertPod'; pod: Pod }
  | { type: 'deletePod'; namespace: string; name: string }
  | { type: 'upsertNamespace'; ns: Namespace }
  | { type: 'deleteNamespace'; name: string }
  | { type: 'upsertPolicy'; policy: NetworkPolicy }
  | { type: 'deletePolicy'; namespace: string; name: string };

const podEvents = [
  { weight: 4, arbitrary: pod.map((p): Event => ({ type: 'upsertPod', pod: p })) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('deletePod' as const), namespace: fc.constantFrom(...NAMESPACES), name: fc.constantFrom('p1', 'p2', 'p3', 'p4') }) },
  { weight: 2, arbitrary: namespace.map((ns): Event => ({ type: 'upsertNamespace', ns })) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('deleteNamespace' as const), name: fc.constantFrom(...NAMESPACES) }) },
];
const policyEvents = [
  { weight: 3, arbitrary: policy.map((p): Event => ({ type: 'upsertPolicy', policy: p })) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('deletePolicy' as const), namespace: fc.constantFrom(...NAMESPACES), name: fc.constantFrom('np1', 'np2', 'np3') }) },
];

/** Any event. */
export const event: fc.Arbitrary<Event> = fc.oneof(...podEvents, ...policyEvents);

/** Policies first, then only pod and namespace events: sets live long and change member by member. */
export const podChurn: fc.Arbitrary<Event[]> = fc
  .tuple(fc.array(policy.map((p): Event => ({ type: 'upsertPolicy', policy: p })), { minLength: 1, maxLength: 4 }), fc.array(fc.oneof(...podEvents), { minLength: 1, maxLength: 40 }))
  .map(([policies, churn]) => [...policies, ...churn]);

export class World {
  pods = new Map<string, Pod>();
  namespaces = new Map<string, Namespace>();
  policies = new Map<string, NetworkPolicy>();

  apply(engine: PolicyEngine, e: Event): void {
    switch (e.type) {
      case 'upsertPod':
        this.pods.set(`${e.pod.namespace}/${e.pod.name}`, e.pod);
        engine.upsertPod(e.pod);
        break;
      case 'deletePod':
        this.pods.delete(`${e.namespace}/${e.name}`);
        engine.deletePod(e.namespace, e.name);
        break;
      case 'upsertNamespace':
        this.namespaces.set(e.ns.name, e.ns);
        engine.upsertNamespace(e.ns);
        break;
      case 'deleteNamespace':
        this.namespaces.delete(e.name);
        engine.deleteNamespace(e.name);
        break;
      case 'upsertPolicy':
        this.policies.set(`${e.policy.namespace}/${e.policy.name}`, e.policy);
        engine.upsertPolicy(e.policy);
        break;
      case 'deletePolicy':
        this.policies.delete(`${e.namespace}/${e.name}`);
        engine.deletePolicy(e.namespace, e.name);
        break;
    }
  }

  reference(node: string | null) {
    return referenceSnapshot([...this.pods.values()], [...this.namespaces.values()], [...this.policies.values()], node);
  }
}

