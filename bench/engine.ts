// make bench-engine: the policy engine on a synthetic cluster of 100,000 pods in 1,000 namespaces, 5,000
// policies and 250 pods on the local node. Prints the full computation time, the median time of single
// changes (pod label, namespace label, policy), and heap per cluster pod.
import { PolicyEngine } from '../src/engine/engine.js';
import type { Namespace, NetworkPolicy, Pod } from '../src/model/types.js';

const NAMESPACES = Number(process.env.BENCH_NAMESPACES ?? 1000);
const PODS_PER_NAMESPACE = Number(process.env.BENCH_PODS_PER_NAMESPACE ?? 100);
const NODES = Number(process.env.BENCH_NODES ?? 400);
const LOCAL_NODE = 'node-0';
const SAMPLES = 201;

const TIERS = ['web', 'api', 'db'];
const ENVS = ['prod', 'dev', 'staging'];

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function ipFor(n: number): string {
  const v = n + 1;
  return `10.${(v >> 16) & 255}.${(v >> 8) & 255}.${v & 255}`;
}

function makeNamespaces(): Namespace[] {
  return Array.from({ length: NAMESPACES }, (_, i) => ({
    name: `ns-${i}`,
    labels: { 'kubernetes.io/metadata.name': `ns-${i}`, team: `t${i % 20}`, env: ENVS[i % 3]!, ...(i % 100 === 0 ? { purpose: 'monitoring' } : {}) },
  }));
}

function makePods(): Pod[] {
  const pods: Pod[] = [];
  for (let i = 0; i < NAMESPACES; i++) {
    for (let j = 0; j < PODS_PER_NAMESPACE; j++) {
      const n = i * PODS_PER_NAMESPACE + j;
      pods.push({
        namespace: `ns-${i}`,
        name: `pod-${j}`,
        labels: { app: `app-${j % 10}`, tier: TIERS[j % 3]!, 'pod-template-hash': `h${j % 7}` },
        node: `node-${n % NODES}`,
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

function makePolicies(): NetworkPolicy[] {
  const policies: NetworkPolicy[] = [];
  const sel = (labels: Record<string, string>) => ({ matchLabels: labels, matchExpressions: [] });
  for (let i = 0; i < NAMESPACES; i++) {
    const namespace = `ns-${i}`;
    policies.push(
      { namespace, name: 'default-deny', podSelector: sel({}), ingress: [], egress: null },
      {
        namespace,
        name: 'same-app',
        podSelector: sel({ app: `app-${i % 10}` }),
        ingress: [{ peers: [{ kind: 'pods', namespaceSelector: null, podSelector: sel({ app: `app-${i % 10}` }) }], ports: [{ kind: 'number', protocol: 'TCP', port: 8080, endPort: 8080 }] }],
        egress: null,
      },
      {
        namespace,
        name: 'from-team-web',
        podSelector: sel({ tier: 'api' }),
        ingress: [{ peers: [{ kind: 'pods', namespaceSelector: sel({ team: `t${i % 20}` }), podSelector: sel({ tier: 'web' }) }], ports: [{ kind: 'named', protocol: 'TCP', name: 'http' }] }],
        egress: null,
      },
      {
        namespace,
        name: 'api-egress',
        podSelector: sel({ tier: 'api' }),
        ingress: null,
        egress: [
          { peers: [{ kind: 'pods', namespaceSelector: null, podSelector: sel({ tier: 'db' }) }], ports: [{ kind: 'number', protocol: 'TCP', port: 5432, endPort: 5432 }] },
          { peers: [{ kind: 'pods', namespaceSelector: sel({ 'kubernetes.io/metadata.name': 'ns-0' }), podSelector: sel({ app: 'app-0' }) }], ports: [{ kind: 'number', protocol: 'UDP', port: 53, endPort: 53 }] },
          { peers: [{ kind: 'ipBlock', cidr: '192.168.0.0/16', except: ['192.168.1.0/24'] }], ports: null },
        ],
      },
      {
        namespace,
        name: 'monitoring',
        podSelector: sel({}),
        ingress: [{ peers: [{ kind: 'pods', namespaceSelector: sel({ purpose: 'monitoring' }), podSelector: sel({}) }], ports: [{ kind: 'named', protocol: 'TCP', name: 'metrics' }] }],
        egress: null,
      },
    );
  }
  return policies;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function timeMs(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function main(): void {
  const namespaces = makeNamespaces();
  const policies = makePolicies();
  const pods = makePods();
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const engine = new PolicyEngine(LOCAL_NODE);
  let changes = { localPods: 0, peerSets: 0 };
  const fullMs = timeMs(() => {
    for (const ns of namespaces) engine.upsertNamespace(ns);
    for (const pod of pods) engine.upsertPod(pod);
    for (const policy of policies) engine.upsertPolicy(policy);
    const c = engine.takeChanges();
    changes = { localPods: c.localPods.size, peerSets: c.peerSets.size };
  });
  gc();
  const heapAfter = process.memoryUsage().heapUsed;

  // Each sample applies one change, times it until the change report is taken, then undoes it.
  const measure = (count: number, change: (s: number) => { apply: () => void; undo: () => void }): number[] =>
    Array.from({ length: count }, (_, s) => {
      const { apply, undo } = change(s);
      const ms = timeMs(() => {
        apply();
        engine.takeChanges();
      });
      undo();
      engine.takeChanges();
      return ms;
    });

  const podLabelMs = measure(SAMPLES, (s) => {
    const pod = pods[(s * 7919) % pods.length]!;
    const changed = { ...pod, labels: { ...pod.labels, app: `app-${(Number(pod.labels.app!.slice(4)) + 1) % 10}` } };
    return { apply: () => engine.upsertPod(changed), undo: () => engine.upsertPod(pod) };
  });
  const nsLabelMs = measure(SAMPLES, (s) => {
    const ns = namespaces[(s * 31) % namespaces.length]!;
    const changed = { ...ns, labels: { ...ns.labels, team: `t${(s + 7) % 20}` } };
    return { apply: () => engine.upsertNamespace(changed), undo: () => engine.upsertNamespace(ns) };
  });
  const policyMs = measure(SAMPLES, (s) => {
    const policy = policies[(s * 13) % policies.length]!;
    const changed: NetworkPolicy = {
      ...policy,
      ingress: [...(policy.ingress ?? []), { peers: null, ports: [{ kind: 'number', protocol: 'TCP', port: 10000 + s, endPort: 10000 + s }] }],
    };
    return { apply: () => engine.upsertPolicy(changed), undo: () => engine.upsertPolicy(policy) };
  });

  const result = {
    pods: pods.length,
    namespaces: namespaces.length,
    policies: policies.length,
    localPods: engine.localPods().size,
    peerSets: [...engine.peerSetIds()].length,
    fullComputationMs: Math.round(fullMs),
    podLabelChangeMedianMs: Number(median(podLabelMs).toFixed(3)),
    namespaceLabelChangeMedianMs: Number(median(nsLabelMs).toFixed(3)),
    policyChangeMedianMs: Number(median(policyMs).toFixed(3)),
    heapBytesPerClusterPod: Math.round((heapAfter - heapBefore) / pods.length),
    firstComputationChanges: changes,
  };
  console.log(`nftpol engine benchmark (${result.pods} pods, ${result.namespaces} namespaces, ${result.policies} policies, ${result.localPods} local pods, ${result.peerSets} peer sets)`);
  console.log(`  full computation              ${result.fullComputationMs} ms        (goal <= 2000 ms)`);
  console.log(`  one pod label change, median  ${result.podLabelChangeMedianMs} ms   (goal <= 5 ms)`);
  console.log(`  one namespace label change    ${result.namespaceLabelChangeMedianMs} ms   (goal <= 5 ms)`);
  console.log(`  one policy change, median     ${result.policyChangeMedianMs} ms   (goal <= 5 ms)`);
  console.log(`  heap per cluster pod          ${result.heapBytesPerClusterPod} B    (goal <= 2048 B)`);
  console.log(JSON.stringify(result));
}

main();
