// Synthetic clusters for the benchmarks: namespaces labelled by team and env, pods spread over nodes
// round-robin with app/tier labels and named ports, and policies of a few realistic kinds per namespace.
import type { Namespace, NetworkPolicy, Pod } from '../src/model/types.js';

export interface ClusterShape {
  readonly namespaces: number;
  readonly podsPerNamespace: number;
  readonly nodes: number;
}

const TIERS = ['web', 'api', 'db'];
const ENVS = ['prod', 'dev', 'staging'];

export function ipFor(n: number): string {
  const v = n + 1;
  return `10.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`;
}

export function makeNamespaces(shape: ClusterShape): Namespace[] {
  return Array.from({ length: shape.namespaces }, (_, i) => ({
    name: `ns-${i}`,
    labels: { 'kubernetes.io/metadata.name': `ns-${i}`, team: `t${i % 20}`, env: ENVS[i % 3]!, ...(i % 100 === 0 ? { purpose: 'monitoring' } : {}) },
  }));
}

export function makePods(shape: ClusterShape): Pod[] {
  const pods: Pod[] = [];
  for (let i = 0; i < shape.namespaces; i++) {
    for (let j = 0; j < shape.podsPerNamespace; j++) {
      const n = i * shape.podsPerNamespace + j;
      pods.push({
        namespace: `ns-${i}`,
        name: `pod-${j}`,
        labels: { app: `app-${j % 10}`, tier: TIERS[j % 3]!, 'pod-template-hash': `h${j % 7}` },
        // (i + j) rather than n spreads each node's pods over namespaces and label values.
        node: `node-${(i + j) % shape.nodes}`,
        ips: [ipFor(n)],
        phase: 'Running',
        hostNetwork: false,
        ports: [
          { name: 'http', port: 8080 + (j % 2), protocol: 'TCP' },
          { name: 'metrics', port: 9090, protocol: 'TCP' },
        ],
      });
    }
  }
  return pods;
}

const sel = (labels: Record<string, string>) => ({ matchLabels: labels, matchExpressions: [] });

/** The kinds of policy a synthetic namespace can have; each is a function of the namespace index. */
export const POLICY_KINDS = {
  'default-deny': (i: number): NetworkPolicy => ({ namespace: `ns-${i}`, name: 'default-deny', podSelector: sel({}), ingress: [], egress: null }),
  'same-app': (i: number): NetworkPolicy => ({
    namespace: `ns-${i}`,
    name: 'same-app',
    podSelector: sel({ app: `app-${i % 10}` }),
    ingress: [{ peers: [{ kind: 'pods', namespaceSelector: null, podSelector: sel({ app: `app-${i % 10}` }) }], ports: [{ kind: 'number', protocol: 'TCP', port: 8080, endPort: 8080 }] }],
    egress: null,
  }),
  'from-team-web': (i: number): NetworkPolicy => ({
    namespace: `ns-${i}`,
    name: 'from-team-web',
    podSelector: sel({ tier: 'api' }),
    ingress: [{ peers: [{ kind: 'pods', namespaceSelector: sel({ team: `t${i % 20}` }), podSelector: sel({ tier: 'web' }) }], ports: [{ kind: 'named', protocol: 'TCP', name: 'http' }] }],
    egress: null,
  }),
  'api-egress': (i: number): NetworkPolicy => ({
    namespace: `ns-${i}`,
    name: 'api-egress',
    podSelector: sel({ tier: 'api' }),
    ingress: null,
    egress: [
      { peers: [{ kind: 'pods', namespaceSelector: null, podSelector: sel({ tier: 'db' }) }], ports: [{ kind: 'number', protocol: 'TCP', port: 5432, endPort: 5432 }] },
      { peers: [{ kind: 'pods', namespaceSelector: sel({ 'kubernetes.io/metadata.name': 'ns-0' }), podSelector: sel({ app: 'app-0' }) }], ports: [{ kind: 'number', protocol: 'UDP', port: 53, endPort: 53 }] },
      { peers: [{ kind: 'ipBlock', cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] }], ports: null },
    ],
  }),
  monitoring: (i: number): NetworkPolicy => ({
    namespace: `ns-${i}`,
    name: 'monitoring',
    podSelector: sel({}),
    ingress: [{ peers: [{ kind: 'pods', namespaceSelector: sel({ purpose: 'monitoring' }), podSelector: sel({}) }], ports: [{ kind: 'named', protocol: 'TCP', name: 'metrics' }] }],
    egress: null,
  }),
  /** Wide peers: web pods of the team's namespaces, and the namespace's app in every namespace. */
  'web-ingress': (i: number): NetworkPolicy => ({
    namespace: `ns-${i}`,
    name: 'web-ingress',
    podSelector: sel({}),
    ingress: [
      {
        peers: [
          { kind: 'pods', namespaceSelector: sel({ team: `t${i % 20}` }), podSelector: sel({ tier: 'web' }) },
          { kind: 'pods', namespaceSelector: sel({}), podSelector: sel({ app: `app-${i % 10}` }) },
        ],
        ports: [{ kind: 'named', protocol: 'TCP', name: 'http' }],
      },
    ],
    egress: null,
  }),
} as const;

export type PolicyKind = keyof typeof POLICY_KINDS;

export function makePolicies(shape: ClusterShape, kinds: readonly PolicyKind[]): NetworkPolicy[] {
  const policies: NetworkPolicy[] = [];
  for (let i = 0; i < shape.namespaces; i++) for (const kind of kinds) policies.push(POLICY_KINDS[kind](i));
  return policies;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export function timeMs(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

