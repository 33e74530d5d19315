// make bench-engine: the policy engine on a synthetic cluster of 100,000 pods in 1,000 namespaces, 5,000
// policies and 250 pods on the local node. Prints the full computation time, the median time of single
// changes (pod label, namespace label, policy), and heap per cluster pod.
import { PolicyEngine } from '../src/engine/engine.js';
import type { NetworkPolicy } from '../src/model/types.js';
import { gc, makeNamespaces, makePods, makePolicies, median, timeMs } from './synthetic.js';

const NAMESPACES = Number(process.env.BENCH_NAMESPACES ?? 1000);
const PODS_PER_NAMESPACE = Number(process.env.BENCH_PODS_PER_NAMESPACE ?? 100);
const NODES = Number(process.env.BENCH_NODES ?? 400);
const LOCAL_NODE = 'node-0';
const SAMPLES = 201;

function main(): void {
  const shape = { namespaces: NAMESPACES, podsPerNamespace: PODS_PER_NAMESPACE, nodes: NODES };
  const namespaces = makeNamespaces(shape);
  const policies = makePolicies(shape, ['default-deny', 'same-app', 'from-team-web', 'api-egress', 'monitoring']);
  const pods = makePods(shape);
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
