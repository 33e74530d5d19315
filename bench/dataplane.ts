// make bench-dataplane, measured with the real nft in network namespaces this benchmark creates (and removes):
// 1. Sync cost with 250 local pods, 2,000 policies and 100,000 remote pods (then 10,000): cold full sync,
//    and the median time and transaction size of one pod add, one pod label change and one policy change.
//    The baseline, measured in the same run, is a full sync for every change (what an agent that rebuilds
//    its table on each sync pays). Both transaction runners, in the same run: one `nft -f` process per
//    transaction (exec) and the long-lived libnftables helper the agent uses by default (session).
// 2. Packet cost between two pod namespaces through a node namespace: iperf3 throughput and new TCP
//    connections per second, without an nftpol table and with the large table plus a policy that allows
//    the probe.
import { execa } from 'execa';
import { inOwnNetworkNamespace } from './own-netns.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SandboxCluster } from '../e2e/sandbox/cluster.js';
import { PolicyEngine } from '../src/engine/engine.js';
import { normalizePod } from '../src/model/normalize.js';
import type { ScenarioPod } from '../src/scenario/format.js';
import { podObject } from '../src/scenario/objects.js';
import type { NetworkPolicy, Pod } from '../src/model/types.js';
import { Dataplane } from '../src/nft/dataplane.js';
import { nftCommand, type NftRunner } from '../src/nft/executor.js';
import { nftSession, type NftSession } from '../src/nft/session.js';
import { ipFor, makeNamespaces, makePods, makePolicies, median, type ClusterShape } from './synthetic.js';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 31);
const PACKET_ROUNDS = Number(process.env.PACKET_ROUNDS ?? 5);
const created: string[] = [];

async function run(file: string, args: string[], input?: string): Promise<string> {
  const r = await execa(file, args, { reject: false, ...(input !== undefined ? { input } : {}) });
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${String(r.stderr).trim()}`);
  return String(r.stdout);
}

async function cleanup(): Promise<void> {
  for (const name of created.splice(0).reverse()) await execa('ip', ['netns', 'del', name], { reject: false });
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

interface ChangeCost {
  medianMs: number;
  /** Of which the nft process. */
  nftMedianMs: number;
  lines: number;
}

interface SyncCost {
  remotePods: number;
  tableElements: number;
  tableSets: number;
  tableChains: number;
  fullSyncMs: number;
  podAdd: ChangeCost;
  podLabelChange: ChangeCost;
  policyChange: ChangeCost;
  baselineFullSyncMedianMs: number;
}

async function syncCost(shape: ClusterShape, runner: NftRunner): Promise<SyncCost> {
  const engine = new PolicyEngine('node-0');
  for (const ns of makeNamespaces(shape)) engine.upsertNamespace(ns);
  const pods = makePods(shape);
  for (const pod of pods) engine.upsertPod(pod);
  const policies = makePolicies(shape, ['web-ingress', 'api-egress']);
  for (const policy of policies) engine.upsertPolicy(policy);
  const localPods = pods.filter((p) => p.node === 'node-0');
  // nft runs directly in this process's own network namespace, as the agent runs in its node's.
  const dataplane = new Dataplane(engine, runner, { table: 'nftpol', denyAction: 'drop' });
  const fullSyncMs = await timed(() => dataplane.sync(engine.takeChanges()));
  const state = dataplane.committedState!;
  let tableElements = 0;
  for (const set of state.sets.values()) tableElements += set.elements.size;

  const measure = async (change: (s: number) => { apply: () => void; undo: () => void }) => {
    const times: number[] = [];
    const nft: number[] = [];
    const lines: number[] = [];
    for (let s = 0; s < SAMPLES; s++) {
      const { apply, undo } = change(s);
      const start = process.hrtime.bigint();
      apply();
      const result = await dataplane.sync(engine.takeChanges());
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      lines.push(result.lines);
      nft.push(result.nftMs);
      undo();
      await dataplane.sync(engine.takeChanges());
    }
    return { medianMs: Number(median(times).toFixed(2)), nftMedianMs: Number(median(nft).toFixed(2)), lines: median(lines) };
  };

  // A new remote pod that falls into wide peer sets (web tier, a common app).
  const podAdd = await measure((s) => {
    // Same namespace and labels as a local pod, so it joins the wide sets that pod's policies use.
    const template = localPods[s % localPods.length]!;
    const pod: Pod = { ...template, name: `new-${s}`, node: 'node-7', ips: [ipFor(shape.namespaces * shape.podsPerNamespace + 10 + s)] };
    return { apply: () => engine.upsertPod(pod), undo: () => engine.deletePod(pod.namespace, pod.name) };
  });
  // A local pod changes its tier: its chains change, and it moves between sets.
  const podLabelChange = await measure((s) => {
    const pod = localPods[(s * 7) % localPods.length]!;
    const changed = { ...pod, labels: { ...pod.labels, tier: pod.labels.tier === 'api' ? 'web' : 'api' } };
    return { apply: () => engine.upsertPod(changed), undo: () => engine.upsertPod(pod) };
  });
  // A policy of a namespace with local pods gets one more allowed port.
  const localNamespaces = [...new Set(localPods.map((p) => p.namespace))];
  const policyChange = await measure((s) => {
    const namespace = localNamespaces[s % localNamespaces.length]!;
    const policy = policies.find((p) => p.namespace === namespace && p.name === 'web-ingress')!;
    const changed: NetworkPolicy = { ...policy, ingress: [...policy.ingress!, { peers: null, ports: [{ kind: 'number', protocol: 'TCP', port: 10000 + s, endPort: 10000 + s }] }] };
    return { apply: () => engine.upsertPolicy(changed), undo: () => engine.upsertPolicy(policy) };
  });
  // Baseline: the same kind of change applied as a full sync.
  const baseline: number[] = [];
  for (let s = 0; s < Math.min(SAMPLES, 7); s++) {
    dataplane.requestFullSync();
    baseline.push(await timed(() => dataplane.sync(engine.takeChanges())));
  }
  return {
    remotePods: pods.length - localPods.length,
    tableElements,
    tableSets: state.sets.size,
    tableChains: state.chains.size,
    fullSyncMs: Math.round(fullSyncMs),
    podAdd,
    podLabelChange,
    policyChange,
    baselineFullSyncMedianMs: Math.round(median(baseline)),
  };
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CONNRATE = join(ROOT, 'dist', 'bench', 'connrate.js');

interface PacketCost {
  throughputGbps: number;
  connectionsPerSecond: number;
  /** Connections that failed or timed out (1 s), over the 3 runs. */
  failedConnections: number;
}

/** Connections in flight while measuring the connection rate. */
const CONCURRENCY = 4;

async function inPod(cluster: SandboxCluster, pod: ScenarioPod, file: string, args: string[]): Promise<string> {
  return run('ip', ['netns', 'exec', cluster.podNamespace(pod), file, ...args]);
}

/** One run: iperf3 throughput (5 s) and new connections per second (3 s). */
async function packetRun(cluster: SandboxCluster, client: ScenarioPod, server: ScenarioPod): Promise<PacketCost> {
  // One-off server (-1): it exits after the test, so nothing is left running.
  const iperfServer = execa('ip', ['netns', 'exec', cluster.podNamespace(server), 'iperf3', '-s', '-1', '-p', '5201'], { reject: false });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const report = JSON.parse(await inPod(cluster, client, 'iperf3', ['-c', server.ips[0]!, '-p', '5201', '-t', '5', '-J'])) as { end: { sum_received: { bits_per_second: number } } };
  await iperfServer;
  const rate = JSON.parse(await inPod(cluster, client, process.execPath, [CONNRATE, server.ips[0]!, '80', '3', String(CONCURRENCY)])) as { perSecond: number; failed: number };
  return { throughputGbps: report.end.sum_received.bits_per_second / 1e9, connectionsPerSecond: rate.perSecond, failedConnections: rate.failed };
}

/** Medians (and the sum of failures) over runs. */
function summary(runs: readonly PacketCost[]): PacketCost {
  return {
    throughputGbps: Number(median(runs.map((r) => r.throughputGbps)).toFixed(2)),
    connectionsPerSecond: median(runs.map((r) => r.connectionsPerSecond)),
    failedConnections: runs.reduce((n, r) => n + r.failedConnections, 0),
  };
}

/**
 * Connection tracking alone: the one rule every stateful firewall (and kube-proxy's NAT) starts with. Without
 * any table, the node namespace tracks no connections at all, so the difference between this phase and "no
 * table" is what conntrack costs a new connection, and the difference to the nftpol table is nftpol's.
 */
const CONNTRACK_ONLY = 'table inet nftpol-bench-ct {\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n    ct state established,related accept\n  }\n}\n';

interface PacketPhases {
  baseline: PacketCost;
  conntrackOnly: PacketCost;
  withTable: PacketCost;
  tableElements: number;
}

/** PACKET_ROUNDS rounds (5); each measures every phase once, in turn, so that load from elsewhere hits all alike. */
async function packetBenchmark(): Promise<PacketPhases> {
  const pod = (name: string, ip: string): ScenarioPod => ({ namespace: 'bench', name, key: `bench/${name}`, labels: { app: name }, node: 0, ips: [ip], hostNetwork: false, ports: [{ port: 80, protocol: 'TCP' }] });
  const client = pod('client', '10.244.0.10');
  const server = pod('server', '10.244.0.11');
  const cluster = await SandboxCluster.create({ nodes: 1, families: ['IPv4'], pods: [client, server] });
  try {
    // The large table of the sync benchmark, plus the two pods: the server isolated, the client allowed.
    const shape = { namespaces: 1000, podsPerNamespace: 100, nodes: 400 };
    const engine = new PolicyEngine('node-0');
    for (const ns of makeNamespaces(shape)) engine.upsertNamespace(ns);
    for (const p of makePods(shape)) engine.upsertPod(p);
    for (const p of makePolicies(shape, ['web-ingress', 'api-egress'])) engine.upsertPolicy(p);
    for (const p of [client, server]) engine.upsertPod(normalizePod(podObject(p)));
    const sel = (labels: Record<string, string>) => ({ matchLabels: labels, matchExpressions: [] });
    engine.upsertPolicy({
      namespace: 'bench',
      name: 'server-from-client',
      podSelector: sel({ app: 'server' }),
      ingress: [{ peers: [{ kind: 'pods', namespaceSelector: null, podSelector: sel({ app: 'client' }) }], ports: [{ kind: 'number', protocol: 'TCP', port: 80, endPort: 80 }, { kind: 'number', protocol: 'TCP', port: 5201, endPort: 5201 }] }],
      egress: null,
    });
    const nft = nftCommand({ netns: cluster.node(0) });
    const dataplane = new Dataplane(engine, nft, { table: 'nftpol', denyAction: 'drop' });
    const runs: Record<'baseline' | 'conntrackOnly' | 'withTable', PacketCost[]> = { baseline: [], conntrackOnly: [], withTable: [] };
    let tableElements = 0;
    for (let round = 0; round < PACKET_ROUNDS; round++) {
      runs.baseline.push(await packetRun(cluster, client, server));
      await nft.apply(CONNTRACK_ONLY);
      runs.conntrackOnly.push(await packetRun(cluster, client, server));
      await nft.apply('delete table inet nftpol-bench-ct\n');
      dataplane.requestFullSync();
      await dataplane.sync(engine.takeChanges());
      tableElements = 0;
      for (const set of dataplane.committedState!.sets.values()) tableElements += set.elements.size;
      runs.withTable.push(await packetRun(cluster, client, server));
      await nft.apply('delete table inet nftpol\n');
    }
    return { baseline: summary(runs.baseline), conntrackOnly: summary(runs.conntrackOnly), withTable: summary(runs.withTable), tableElements };
  } finally {
    await cluster.destroy();
  }
}

/** The two transaction runners, each with its closer, in the order they are measured. */
function runners(): [string, NftRunner, () => void][] {
  const session = nftSession();
  return [
    ['exec', nftCommand(), () => undefined],
    ['session', session, () => session.close()],
  ];
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = {};
  try {
    console.log('nftpol dataplane benchmark (real nft in a network namespace)');
    // BENCH_ONLY=sync or BENCH_ONLY=packets runs one half.
    const only = process.env.BENCH_ONLY;
    for (const [label, shape] of only === 'packets' ? [] : [
      ['100k remote pods', { namespaces: 1000, podsPerNamespace: 100, nodes: 400 }],
      ['10k remote pods', { namespaces: 1000, podsPerNamespace: 10, nodes: 40 }],
    ] as const) {
      const costs: Record<string, SyncCost> = {};
      for (const [how, runner, close] of runners()) {
        // The helper starts once per agent, not per sync: start it before the clock runs.
        if ('start' in runner) await (runner as NftSession).start();
        const cost = await syncCost(shape, runner);
        close();
        await run('nft', ['delete', 'table', 'inet', 'nftpol']);
        costs[how] = cost;
        console.log(`  ${label}, ${how}: ${cost.tableElements} set elements in ${cost.tableSets} sets, ${cost.tableChains} chains`);
        console.log(`    cold full sync               ${cost.fullSyncMs} ms            (goal <= 3000 ms)`);
        for (const [what, c] of [['pod add', cost.podAdd], ['pod label change', cost.podLabelChange], ['policy change', cost.policyChange]] as const) {
          console.log(`    ${what.padEnd(18)} median ${c.medianMs} ms (nft ${c.nftMedianMs} ms), ${c.lines} lines   (goal <= 10 ms)`);
        }
        console.log(`    baseline: full sync per change, median ${cost.baselineFullSyncMedianMs} ms`);
      }
      const [exec, session] = [costs.exec!, costs.session!];
      const ratios = (['podAdd', 'podLabelChange', 'policyChange'] as const).map((k) => `${k} ${(session[k].nftMedianMs / exec[k].nftMedianMs).toFixed(2)}`);
      console.log(`    session / exec, nft time per change: ${ratios.join(', ')}`);
      results[label] = costs;
    }
    if (only === 'sync') return console.log(JSON.stringify(results));
    const packets = await packetBenchmark();
    results.packets = packets;
    const ratio = (a: number, b: number) => `${((100 * a) / b).toFixed(1)} %`;
    console.log(`  packets between two pods through the node (median of ${PACKET_ROUNDS} rounds, phases interleaved):`);
    console.log(`    iperf3 throughput      no table ${packets.baseline.throughputGbps} Gbit/s, with ${packets.tableElements} elements ${packets.withTable.throughputGbps} Gbit/s = ${ratio(packets.withTable.throughputGbps, packets.baseline.throughputGbps)}   (goal >= 97 %)`);
    console.log(`    new TCP connections/s  no table ${packets.baseline.connectionsPerSecond}, with table ${packets.withTable.connectionsPerSecond} = ${ratio(packets.withTable.connectionsPerSecond, packets.baseline.connectionsPerSecond)}   (goal >= 95 %; failed: ${packets.baseline.failedConnections} and ${packets.withTable.failedConnections})`);
    console.log(`    conntrack alone        ${packets.conntrackOnly.connectionsPerSecond} = ${ratio(packets.conntrackOnly.connectionsPerSecond, packets.baseline.connectionsPerSecond)} of no table; the nftpol table = ${ratio(packets.withTable.connectionsPerSecond, packets.conntrackOnly.connectionsPerSecond)} of conntrack alone (failed: ${packets.conntrackOnly.failedConnections})`);
    console.log(JSON.stringify(results));
  } finally {
    await cleanup();
  }
}

// The benchmark programs nft in its own network namespace: it re-runs itself under `unshare -n`, so that
// it can never touch the namespace it was started in.
await inOwnNetworkNamespace();
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
await main();
