// make bench-peers: nftpol beside kube-router (v2.1.0, firewall only: iptables + ipset) in one run, on the
// same sandbox cluster shape, the same real control plane and the same synthetic workloads:
// - programming latency, from the API write to the first probe that sees the new verdict (bench/e2e.ts's
//   method: a bare connect every ~2 ms, 30 ms timeout), p50/p99, for a pod label change, a policy change
//   and a new pod, at each cluster size (BENCH_PEERS_SIZES, pods; a tenth as many policies);
// - the time from the enforcer's start (its state wiped) to enforcing the largest cluster;
// - CPU seconds (the process and the children it waited for: nft, iptables-restore, ipset) and peak RSS;
// - per-packet cost with that table loaded: new TCP connections/s and iperf3 throughput, as a fraction of
//   the no-enforcer baseline measured in the same cluster minutes before (the enforcers stopped and their
//   state removed, just before the start-up measurement);
// - scenarios and lifecycle cases passed (BENCH_PEERS_SUITE=0 skips them).
// Prints a table with nftpol/kube-router ratios; writes the raw numbers (PEERS_OUT/peers-bench.json) and
// the charts (PEERS_OUT/peers-latency.svg, peers-resources.svg); PEERS_OUT defaults to docs/.
import type { V1Pod } from '@kubernetes/client-node';
import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScenario, type ScenarioPod } from '../src/scenario/format.js';
import { podObject } from '../src/scenario/objects.js';
import { apiBackendFromEnv } from '../e2e/runner/api-choice.js';
import type { ApiBackend, WriteCommand } from '../e2e/runner/backend.js';
import { agentAddress } from '../e2e/daemonset.js';
import { peerVersion, type Enforcer } from '../e2e/runner/enforcer.js';
import { SandboxRun } from '../e2e/runner/run.js';
import { runSuite, type SuiteResult } from '../e2e/runner/suite.js';
import { writeCharts } from './peers-chart.js';
import { enforcedSince, percentile } from './verdict.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..', '..');
const CONNRATE = join(here, 'connrate.js');
const OUT = process.env.PEERS_OUT ?? join(ROOT, 'docs');
const SIZES = (process.env.BENCH_PEERS_SIZES ?? '100,1000,10000').split(',').map(Number);
const CHANGES = Number(process.env.BENCH_PEERS_CHANGES ?? 20);
const SUITE = process.env.BENCH_PEERS_SUITE !== '0';
/** BENCH_PEERS_ENFORCERS=nftpol measures nftpol alone (a quicker look at its own numbers); the table needs both. */
const ENFORCERS = (process.env.BENCH_PEERS_ENFORCERS ?? 'nftpol,kube-router').split(',') as Enforcer[];
const VERDICT_TIMEOUT_MS = 120_000;
const SETTLE_MS = 300_000;
/** Label groups of the synthetic pods; each policy selects one group and admits another. */
const GROUPS = 100;
/** Synthetic pods live on nodes that exist only in the API (node-2 ... node-9): remote to both real nodes. */
const VIRTUAL_NODES = 8;
const SYNTHETIC_NAMESPACES = 10;
/** Policies that select the server (from one synthetic group each): its allow-set grows with the cluster. */
const SERVER_POLICIES = 10;
const CLK_TCK = 100;

const scenario = parseScenario(
  JSON.stringify({
    name: 'bench-peers',
    cluster: { nodes: 2 },
    namespaces: [{ name: 'bench' }, ...Array.from({ length: SYNTHETIC_NAMESPACES }, (_, i) => ({ name: `s${i}`, labels: { tier: `t${i % 2}` } }))],
    pods: [
      { namespace: 'bench', name: 'client', labels: { role: 'other' }, node: 0, ips: ['10.244.0.10'], ports: [{ port: 80, protocol: 'TCP' }] },
      { namespace: 'bench', name: 'server', labels: { role: 'server' }, node: 1, ips: ['10.244.1.10'], ports: [{ port: 80, protocol: 'TCP' }] },
      { namespace: 'bench', name: 'newpod', labels: { role: 'client' }, node: 0, ips: ['10.244.0.12'], ports: [{ port: 80, protocol: 'TCP' }] },
    ],
    steps: [{ probes: [{ port: 80, protocol: 'TCP' }] }],
  }),
);
const [client, server, newpod] = scenario.pods as [ScenarioPod, ScenarioPod, ScenarioPod];

const serverPolicy = (fromRole: string) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace: 'bench', name: 'server-from-clients' },
  spec: { podSelector: { matchLabels: { role: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: fromRole } } }], ports: [{ port: 80 }, { port: 5201 }] }] },
});

function syntheticPod(i: number): V1Pod {
  const node = 2 + (i % VIRTUAL_NODES);
  const ip = `10.${200 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: `s${i % SYNTHETIC_NAMESPACES}`, name: `p${i}`, labels: { app: `a${i % GROUPS}` } },
    spec: { nodeName: `node-${node}`, containers: [{ name: 'serve', image: 'nftpol/sandbox', ports: [{ containerPort: 80, protocol: 'TCP' }] }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] },
  };
}

/** Policy k: the first SERVER_POLICIES select the server, the rest synthetic pods; each admits one group on port 80. */
function syntheticPolicy(k: number): Record<string, unknown> {
  const target = k < SERVER_POLICIES ? { namespace: 'bench', selector: { role: 'server' } } : { namespace: `s${k % SYNTHETIC_NAMESPACES}`, selector: { app: `a${k % GROUPS}` } };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { namespace: target.namespace, name: `synthetic-${k}` },
    spec: {
      podSelector: { matchLabels: target.selector },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { tier: `t${k % 2}` } }, podSelector: { matchLabels: { app: `a${(k + 1) % GROUPS}` } } }], ports: [{ port: 80, protocol: 'TCP' }] }],
    },
  };
}

/** Runs `work` over `items` with `concurrency` in flight. */
async function pool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

/** One write and the time until its verdict is in force (ms). */
async function timed(run: SandboxRun, command: WriteCommand, from: ScenarioPod, allowed: boolean, what: string): Promise<number> {
  const start = process.hrtime.bigint();
  await run.write(command);
  const ms = Number((await enforcedSince(run, from, server, allowed, start, what, VERDICT_TIMEOUT_MS)) - start) / 1e6;
  await run.settled(`quiet after ${what}`, SETTLE_MS);
  return ms;
}

type Kind = 'pod label' | 'policy' | 'new pod';
const KINDS: Kind[] = ['pod label', 'policy', 'new pod'];

/**
 * CHANGES changes of each kind, interleaved (a round: the label there and back, the policy there and back,
 * a new pod twice), so that every kind meets the same moments of the run (the first minute after a write
 * burst, a compaction, another job's load) instead of the first kind measured meeting them all.
 */
async function latencies(run: SandboxRun): Promise<Record<Kind, number[]>> {
  const out: Record<Kind, number[]> = { 'pod label': [], policy: [], 'new pod': [] };
  for (let round = 0; round < Math.ceil(CHANGES / 2); round++) {
    for (const allow of [true, false]) {
      out['pod label'].push(await timed(run, { op: 'apply', kind: 'Pod', object: podObject(client, { role: allow ? 'client' : 'other' }) }, client, allow, 'pod label change'));
    }
    // The client is role=other again: a policy that admits role=other allows it.
    for (const allow of [true, false]) {
      out.policy.push(await timed(run, { op: 'apply', kind: 'NetworkPolicy', object: serverPolicy(allow ? 'other' : 'client') }, client, allow, 'policy change'));
    }
    for (let k = 0; k < 2; k++) {
      out['new pod'].push(await timed(run, { op: 'apply', kind: 'Pod', object: podObject(newpod) }, newpod, true, 'new pod'));
      await timed(run, { op: 'delete', kind: 'Pod', namespace: 'bench', name: 'newpod' }, newpod, false, 'pod deleted');
    }
  }
  return out;
}

interface Usage {
  cpuSeconds: number;
  peakRssMb: number;
  /** RSS at the last reading (the largest node), beside the peak: how much of the peak a burst left. */
  lastRssMb?: number;
  /** nftpol: V8's used heap at the reading after the growth (its /metrics, nodejs_heap_size_used_bytes), largest node. */
  heapUsedMb?: number;
  /** The processes measured (their command names), to show it is the enforcer and not a wrapper. */
  processes?: string[];
}

/** CPU seconds (its own and its waited-for children's) and peak RSS of each enforcer process now. */
function usage(run: SandboxRun): Usage[] {
  return run.enforcerProcesses().map((child) => {
    try {
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime, stime, cutime, cstime: fields 14-17 of stat(5), 12-15 after the name.
      const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const hwm = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
      const rss = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
      return { cpuSeconds: ticks / CLK_TCK, peakRssMb: Number(hwm ?? 0) / 1024, lastRssMb: Number(rss ?? 0) / 1024, processes: [readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim()] };
    } catch {
      return { cpuSeconds: 0, peakRssMb: 0 };
    }
  });
}

function addUsage(total: Usage, now: Usage[]): void {
  for (const u of now) {
    total.cpuSeconds += u.cpuSeconds;
    total.peakRssMb = Math.max(total.peakRssMb, u.peakRssMb);
    total.lastRssMb = Math.max(total.lastRssMb ?? 0, u.lastRssMb ?? 0);
    total.processes = [...new Set([...(total.processes ?? []), ...(u.processes ?? [])])];
  }
}

/** nftpol's used heap now, from each node's agent /metrics (the largest), in MB; undefined for a peer. */
async function heapUsedMb(run: SandboxRun): Promise<number | undefined> {
  if (run.enforcer !== 'nftpol') return undefined;
  let largest = 0;
  for (let i = 0; i < scenario.nodes; i++) {
    const metrics = await execa('ip', ['netns', 'exec', run.cluster.node(i), 'curl', '-s', '--max-time', '5', `http://${agentAddress('--metrics-bind-address')}/metrics`], { reject: false });
    const used = /^nftpol_nodejs_heap_size_used_bytes (\S+)$/m.exec(String(metrics.stdout))?.[1];
    if (used) largest = Math.max(largest, Number(used) / 2 ** 20);
  }
  return largest > 0 ? round(largest) : undefined;
}

/** Removes every table and ipset an enforcer left in the nodes (not the sandbox's own Service tables). */
async function wipe(run: SandboxRun): Promise<void> {
  for (let i = 0; i < scenario.nodes; i++) {
    const ns = run.cluster.node(i);
    const tables = String((await execa('ip', ['netns', 'exec', ns, 'nft', 'list', 'tables'], { reject: false })).stdout).split('\n').filter(Boolean);
    for (const line of tables) {
      const [, family, name] = line.split(' ');
      if (family && name && !name.startsWith('sandbox-')) await execa('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', family, name], { reject: false });
    }
    await execa('ip', ['netns', 'exec', ns, 'ipset', 'destroy'], { reject: false });
  }
}

interface PacketCost {
  throughputGbps: number;
  connectionsPerSecond: number;
  failedConnections: number;
}

const median = (values: number[]) => percentile(values, 50);

/** Median of 3: iperf3 throughput (5 s) and new connections per second (3 s, 4 in flight), client -> server (different nodes). */
async function packetCost(run: SandboxRun): Promise<PacketCost> {
  const inPod = (pod: ScenarioPod, file: string, args: string[]) => execa('ip', ['netns', 'exec', run.cluster.podNamespace(pod), file, ...args]);
  const throughput: number[] = [];
  const connections: number[] = [];
  let failed = 0;
  for (let r = 0; r < 3; r++) {
    const iperfServer = execa('ip', ['netns', 'exec', run.cluster.podNamespace(server), 'iperf3', '-s', '-1', '-p', '5201'], { reject: false });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const report = JSON.parse(String((await inPod(client, 'iperf3', ['-c', server.ips[0]!, '-p', '5201', '-t', '5', '-J'])).stdout)) as { end: { sum_received: { bits_per_second: number } } };
    await iperfServer;
    throughput.push(report.end.sum_received.bits_per_second / 1e9);
    const rate = JSON.parse(String((await inPod(client, process.execPath, [CONNRATE, server.ips[0]!, '80', '3', '4'])).stdout)) as { perSecond: number; failed: number };
    connections.push(rate.perSecond);
    failed += rate.failed;
  }
  return { throughputGbps: Number(median(throughput).toFixed(2)), connectionsPerSecond: median(connections), failedConnections: failed };
}

interface EnforcerResult {
  enforcer: Enforcer;
  version: string;
  latency: { pods: number; policies: number; kind: Kind; p50Ms: number; p99Ms: number; samples: number[] }[];
  populateSeconds: { pods: number; seconds: number }[];
  startup?: { pods: number; policies: number; toEnforcingMs: number; toSettledMs: number };
  usage: Usage;
  /** The same cluster without any enforcer state, just before the start-up. */
  baseline?: PacketCost;
  packets?: PacketCost;
  /** Where the sizes stopped, and why (a size that did not finish in time). */
  stopped?: string;
  suite?: SuiteResult;
}

const round = (v: number, digits = 1) => Number(v.toFixed(digits));

/** Adds synthetic pods and policies from `from` pods up to `size` (a tenth as many policies), waits for them, measures each kind of change. */
async function growAndMeasure(run: SandboxRun, result: EnforcerResult, from: number, size: number): Promise<void> {
  const t = Date.now();
  const newPods = Array.from({ length: size - from }, (_, k) => from + k);
  const newPolicies = Array.from({ length: Math.floor(size / 10) - Math.floor(from / 10) }, (_, k) => Math.floor(from / 10) + k);
  await pool(newPods, 16, (i) => run.write({ op: 'apply', kind: 'Pod', object: syntheticPod(i) }));
  await pool(newPolicies, 16, (k) => run.write({ op: 'apply', kind: 'NetworkPolicy', object: syntheticPolicy(k) }));
  const policies = Math.floor(size / 10);
  await run.settled(`${size} pods`, SETTLE_MS);
  result.populateSeconds.push({ pods: size, seconds: round((Date.now() - t) / 1000) });
  console.log(`  ${result.enforcer}: ${size} pods, ${policies} policies written and enforced in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  const measured = await latencies(run);
  for (const kind of KINDS) {
    const samples = measured[kind].map((v) => round(v));
    result.latency.push({ pods: size, policies, kind, p50Ms: round(percentile(samples, 50)), p99Ms: round(percentile(samples, 99)), samples });
    console.log(`    ${kind.padEnd(10)} p50 ${percentile(samples, 50).toFixed(1)} ms, p99 ${percentile(samples, 99).toFixed(1)} ms (${samples.length})`);
  }
}

async function measureEnforcer(enforcer: Enforcer, backend: ApiBackend): Promise<EnforcerResult> {
  const result: EnforcerResult = { enforcer, version: enforcer === 'nftpol' ? `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}` : peerVersion('kube-router'), latency: [], populateSeconds: [], usage: { cpuSeconds: 0, peakRssMb: 0 } };
  const run = await SandboxRun.start(scenario, enforcer, undefined, (pod) => (pod.name === 'newpod' ? null : podObject(pod)), backend);
  try {
    await run.write({ op: 'apply', kind: 'NetworkPolicy', object: serverPolicy('client') });
    await run.settled('the server policy', SETTLE_MS);
    let pods = 0;
    for (const size of SIZES) {
      try {
        await growAndMeasure(run, result, pods, size);
        pods = size;
      } catch (error) {
        result.stopped = `at ${size} pods: ${(error as Error).message.split('\n')[0]}`;
        console.log(`  ${enforcer}: stopped ${result.stopped}`);
        break;
      }
    }
    const policies = Math.floor(pods / 10);
    // Start-up: the enforcers stopped, their tables and ipsets removed, started again; the client
    // (role=other) must be denied, which takes the server's whole policy set in force.
    await run.write({ op: 'apply', kind: 'Pod', object: podObject(client, { role: 'other' }) });
    await run.settled('the client denied', SETTLE_MS);
    addUsage(result.usage, usage(run));
    result.usage.heapUsedMb = await heapUsedMb(run);
    await run.stopEnforcers();
    await wipe(run);
    if (!(await run.cluster.probe(client, { ip: server.ips[0]!, port: 80, protocol: 'TCP' }, 200, 'socket'))) throw new Error('the client is still denied with no enforcer state');
    result.baseline = await packetCost(run);
    console.log(`  no enforcer (same cluster): ${result.baseline.connectionsPerSecond} conn/s, ${result.baseline.throughputGbps} Gbit/s`);
    const start = process.hrtime.bigint();
    await run.startEnforcers();
    const enforcing = Number((await enforcedSince(run, client, server, false, start, 'start-up', VERDICT_TIMEOUT_MS)) - start) / 1e6;
    await run.settled('start-up', SETTLE_MS);
    const settledMs = Number(process.hrtime.bigint() - start) / 1e6;
    result.startup = { pods, policies, toEnforcingMs: round(enforcing), toSettledMs: round(settledMs) };
    console.log(`  ${enforcer}: start to enforcing ${pods} pods, ${policies} policies: ${(enforcing / 1000).toFixed(2)} s (settled ${(settledMs / 1000).toFixed(2)} s)`);
    // Packet cost with the table loaded: the client admitted (port 80 and iperf3's 5201).
    await run.write({ op: 'apply', kind: 'Pod', object: podObject(client, { role: 'client' }) });
    await run.settled('the client allowed', SETTLE_MS);
    result.packets = await packetCost(run);
    addUsage(result.usage, usage(run));
    result.usage = { ...result.usage, cpuSeconds: round(result.usage.cpuSeconds), peakRssMb: round(result.usage.peakRssMb), lastRssMb: round(result.usage.lastRssMb ?? 0) };
    console.log(`  ${enforcer} (${result.usage.processes?.join(', ')}): ${result.usage.cpuSeconds} CPU s, peak RSS ${result.usage.peakRssMb} MB (${result.usage.lastRssMb} MB at rest after the work${result.usage.heapUsedMb ? `, heap used ${result.usage.heapUsedMb} MB` : ''}); ${result.packets.connectionsPerSecond} conn/s, ${result.packets.throughputGbps} Gbit/s`);
  } finally {
    await run.destroy();
  }
  return result;
}

function machine(): string {
  const model = cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  return `${cpus().length} vCPU (${model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, kernel ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`;
}

function writeOutputs(report: Record<string, unknown>, results: EnforcerResult[]): void {
  writeFileSync(join(OUT, 'peers-bench.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeCharts(OUT, results);
}

function ratio(a: number | undefined, b: number | undefined): string {
  // Two significant digits: at 10,000 pods the latency ratios are in the thousandths.
  return a === undefined || b === undefined || b === 0 ? 'n/a' : `x${Number((a / b).toPrecision(2))}`;
}

const started = Date.now();
const choice = await apiBackendFromEnv('real');
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void choice.stop().then(() => process.exit(130)));
const results: EnforcerResult[] = [];
const report = () => ({ date: new Date().toISOString(), machine: machine(), sizes: SIZES, changesPerKind: CHANGES, results });
try {
  console.log(`bench-peers on ${machine()}: sizes ${SIZES.join(', ')} pods (a tenth as many policies), ${CHANGES} changes per kind and size`);
  for (const enforcer of ENFORCERS) {
    results.push(await measureEnforcer(enforcer, choice.backend));
    writeOutputs(report(), results);
  }
  if (SUITE) {
    for (const r of results) {
      console.log(`  scenarios with ${r.enforcer}:`);
      r.suite = await runSuite(r.enforcer, choice.backend, { control: false });
      writeOutputs(report(), results);
    }
  }
} finally {
  await choice.stop();
}

const [ours, peer] = results as [EnforcerResult, EnforcerResult | undefined];
if (!peer) {
  console.log(JSON.stringify(ours));
  process.exit(0);
}
console.log(`\nnftpol ${ours.version} beside kube-router ${peer.version}, ${machine()}, ${((Date.now() - started) / 60000).toFixed(1)} min`);
console.log(`${'measure'.padEnd(44)}${'nftpol'.padStart(12)}${'kube-router'.padStart(14)}${'nftpol/kr'.padStart(11)}`);
const line = (what: string, a: number | undefined, b: number | undefined, unit: string) =>
  console.log(`${what.padEnd(44)}${(a === undefined ? '-' : `${a} ${unit}`).padStart(12)}${(b === undefined ? '-' : `${b} ${unit}`).padStart(14)}${ratio(a, b).padStart(11)}`);
for (const size of SIZES) {
  for (const kind of KINDS) {
    const a = ours.latency.find((l) => l.pods === size && l.kind === kind);
    const b = peer.latency.find((l) => l.pods === size && l.kind === kind);
    line(`${kind} @${size} pods p50`, a?.p50Ms, b?.p50Ms, 'ms');
    line(`${kind} @${size} pods p99`, a?.p99Ms, b?.p99Ms, 'ms');
  }
}
line(`start to enforcing ${ours.startup?.pods} pods/${ours.startup?.policies} pol`, ours.startup && round(ours.startup.toEnforcingMs / 1000, 2), peer.startup && round(peer.startup.toEnforcingMs / 1000, 2), 's');
line('CPU seconds (run)', ours.usage.cpuSeconds, peer.usage.cpuSeconds, 's');
line('peak RSS', ours.usage.peakRssMb, peer.usage.peakRssMb, 'MB');
const frac = (v: number | undefined, base: number | undefined) => (v === undefined || !base ? undefined : round((100 * v) / base));
line('new conn/s, % of its no-enforcer baseline', frac(ours.packets?.connectionsPerSecond, ours.baseline?.connectionsPerSecond), frac(peer.packets?.connectionsPerSecond, peer.baseline?.connectionsPerSecond), '%');
line('iperf3 throughput, % of its baseline', frac(ours.packets?.throughputGbps, ours.baseline?.throughputGbps), frac(peer.packets?.throughputGbps, peer.baseline?.throughputGbps), '%');
if (ours.suite && peer.suite) {
  console.log(`${'scenarios passed'.padEnd(44)}${`${ours.suite.passed}/${ours.suite.total}`.padStart(12)}${`${peer.suite.passed}/${peer.suite.total}`.padStart(14)}`);
  console.log(`${'lifecycle cases'.padEnd(44)}${(ours.suite.lifecyclesPassed ? 'all' : 'FAILED').padStart(12)}${(peer.suite.lifecyclesPassed ? 'all' : 'not all').padStart(14)}`);
}
for (const r of results) if (r.stopped) console.log(`${r.enforcer}: sizes stopped ${r.stopped}`);
console.log(`baselines (no enforcer, same cluster): ${results.map((r) => `${r.enforcer}'s ${r.baseline?.connectionsPerSecond} conn/s, ${r.baseline?.throughputGbps} Gbit/s`).join('; ')}; raw numbers: ${join(OUT, 'peers-bench.json')}`);
