// make bench-agent: the built `nftpol agent` process against the API server double holding 100,000 pods,
// 5,000 policies and 250 pods on the agent's node, with real nft. Prints startup to ready, heap and RSS,
// and the network programming latency (p50/p99) of a stream of pod and policy changes at 100 events/s.
// The whole benchmark runs in a network namespace of its own (it re-runs itself under `unshare -n`).
import { execa } from 'execa';
import { inOwnNetworkNamespace } from './own-netns.js';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { agentNodeOptions } from '../e2e/daemonset.js';
import type { NetworkPolicy, Peer, PolicyPort, PolicyRule } from '../src/model/types.js';
import { ipFor, makeNamespaces, makePods, makePolicies } from './synthetic.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const SHAPE = { namespaces: 1000, podsPerNamespace: 100, nodes: 400 };
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1000);
const RATE = 100;

/** The slim model's policy back in API form. */
function apiPolicy(p: NetworkPolicy): Record<string, unknown> {
  const selector = (s: { matchLabels: Record<string, string>; matchExpressions: readonly unknown[] }) => ({ matchLabels: s.matchLabels, matchExpressions: s.matchExpressions });
  const peer = (x: Peer) =>
    x.kind === 'ipBlock' ? { ipBlock: { cidr: x.cidr, except: x.except } } : { podSelector: selector(x.podSelector), ...(x.namespaceSelector ? { namespaceSelector: selector(x.namespaceSelector) } : {}) };
  const port = (x: PolicyPort) =>
    x.kind === 'number' ? { protocol: x.protocol, port: x.port, ...(x.endPort !== x.port ? { endPort: x.endPort } : {}) } : x.kind === 'named' ? { protocol: x.protocol, port: x.name } : { protocol: x.protocol };
  const rules = (list: readonly PolicyRule[] | null, field: 'from' | 'to') =>
    list?.map((r) => ({ ...(r.peers ? { [field]: r.peers.map(peer) } : {}), ...(r.ports ? { ports: r.ports.map(port) } : {}) }));
  const types = [...(p.ingress ? ['Ingress'] : []), ...(p.egress ? ['Egress'] : [])];
  return {
    metadata: { namespace: p.namespace, name: p.name },
    spec: { podSelector: selector(p.podSelector), policyTypes: types, ...(p.ingress ? { ingress: rules(p.ingress, 'from') } : {}), ...(p.egress ? { egress: rules(p.egress, 'to') } : {}) },
  };
}

/** The Node.js options the DaemonSet gives the agent (NODE_OPTIONS), so that the benchmark measures what ships; AGENT_NODE_ARGS overrides. */
function nodeArgs(): string[] {
  if (process.env.AGENT_NODE_ARGS !== undefined) return process.env.AGENT_NODE_ARGS.split(' ').filter(Boolean);
  return agentNodeOptions();
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function metricValue(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

async function main(): Promise<void> {
  await execa('ip', ['link', 'set', 'lo', 'up']);
  const api = new ApiServerDouble();
  await api.start();
  for (const ns of makeNamespaces(SHAPE)) api.apply('Namespace', { metadata: { name: ns.name, labels: { ...ns.labels } } });
  const pods = makePods(SHAPE);
  const apiPod = (p: (typeof pods)[number]) => ({
    metadata: { namespace: p.namespace, name: p.name, labels: { ...p.labels } },
    spec: { nodeName: p.node, containers: [{ name: 'c', ports: p.ports.map((x) => ({ name: x.name, containerPort: x.port, protocol: x.protocol })) }] },
    status: { phase: 'Running', podIPs: p.ips.map((ip) => ({ ip })) },
  });
  for (const p of pods) api.apply('Pod', apiPod(p));
  const policies = makePolicies(SHAPE, ['default-deny', 'same-app', 'from-team-web', 'api-egress', 'monitoring']);
  for (const p of policies) api.apply('NetworkPolicy', apiPolicy(p));
  const port = 19745;
  const started = process.hrtime.bigint();
  const agent = execa(process.execPath, [...nodeArgs(), CLI, 'agent', '--kubeconfig', api.kubeconfig, '--node-name', 'node-0', '--listen', `127.0.0.1:${port}`], { reject: false, buffer: false, stdout: 'pipe', stderr: 'inherit' });
  const latencies: number[] = [];
  let measuring = false;
  createInterface({ input: agent.stdout! }).on('line', (line) => {
    const entry = JSON.parse(line) as { msg: string; mode?: string; latencyMs?: number };
    if (measuring && entry.msg === 'sync' && entry.latencyMs !== undefined) latencies.push(entry.latencyMs);
  });
  try {
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0);
      if (status === 200) break;
      if (agent.exitCode !== null) throw new Error('the agent exited');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const readyMs = Number(process.hrtime.bigint() - started) / 1e6;
    // With AGENT_NODE_ARGS=--heapsnapshot-signal=SIGUSR2, SNAPSHOT_WAIT_MS=40000 writes a heap snapshot at ready.
    if (process.env.SNAPSHOT_WAIT_MS) {
      agent.kill('SIGUSR2');
      await new Promise((resolve) => setTimeout(resolve, Number(process.env.SNAPSHOT_WAIT_MS)));
    }
    const rssAfterStart = await metricValue(port, 'nftpol_process_resident_memory_bytes');
    const heapAfterStart = await metricValue(port, 'nftpol_nodejs_heap_size_used_bytes');

    // A stream of changes at 100 events/s: pod label flips (local and remote), new pods, policy updates.
    measuring = true;
    const local = pods.filter((p) => p.node === 'node-0');
    for (let i = 0; i < EVENTS; i++) {
      const kind = i % 4;
      if (kind === 0 || kind === 1) {
        const p = kind === 0 ? local[i % local.length]! : pods[(i * 7919) % pods.length]!;
        api.apply('Pod', apiPod({ ...p, labels: { ...p.labels, tier: i % 8 < 4 ? 'api' : 'web' } }));
      } else if (kind === 2) {
        const p = local[i % local.length]!;
        api.apply('Pod', apiPod({ ...p, name: `extra-${i}`, ips: [ipFor(SHAPE.namespaces * SHAPE.podsPerNamespace + i)] }));
      } else {
        const p = policies[(i * 13) % policies.length]!;
        const changed = { ...p, ingress: p.ingress ? [...p.ingress, { peers: null, ports: [{ kind: 'number' as const, protocol: 'TCP' as const, port: 10000 + i, endPort: 10000 + i }] }] : null };
        api.apply('NetworkPolicy', apiPolicy(changed));
      }
      await new Promise((resolve) => setTimeout(resolve, 1000 / RATE));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const rss = await metricValue(port, 'nftpol_process_resident_memory_bytes');
    const heap = await metricValue(port, 'nftpol_nodejs_heap_size_used_bytes');
    const result = {
      pods: pods.length,
      policies: policies.length,
      readyMs: Math.round(readyMs),
      rssMB: Math.round(Math.max(rss, rssAfterStart) / 2 ** 20),
      heapMB: Math.round(Math.max(heap, heapAfterStart) / 2 ** 20),
      heapBytesPerClusterPod: Math.round(heapAfterStart / pods.length),
      events: EVENTS,
      syncs: latencies.length,
      latencyP50Ms: Number(percentile(latencies, 50).toFixed(1)),
      latencyP99Ms: Number(percentile(latencies, 99).toFixed(1)),
    };
    console.log(`nftpol agent benchmark (${result.pods} pods, ${result.policies} policies, 250 local pods, real nft)`);
    console.log(`  startup to ready           ${result.readyMs} ms    (goal <= 5000 ms)`);
    console.log(`  RSS                        ${result.rssMB} MB     (goal <= 300 MB); heap ${result.heapMB} MB, ${result.heapBytesPerClusterPod} B per cluster pod`);
    console.log(`  programming latency        p50 ${result.latencyP50Ms} ms, p99 ${result.latencyP99Ms} ms over ${result.syncs} syncs for ${EVENTS} events at ${RATE}/s   (goal p99 <= 50 ms)`);
    console.log(JSON.stringify(result));
  } finally {
    agent.kill('SIGTERM');
    await agent;
    await api.destroy();
  }
}

await inOwnNetworkNamespace({ BENCH_EVENTS: String(EVENTS) });
await main();
