// make bench-e2e: in the sandbox cluster with the real agents, the time from an API write (policy created,
// pod label changed, policy deleted) to the first probe that observes the new verdict, probing a client ->
// server connection every few milliseconds; p50 and p99 over 100 changes.
import { parseScenario } from '../src/scenario/format.js';
import type { WriteCommand } from '../e2e/runner/backend.js';
import { SandboxRun } from '../e2e/runner/run.js';

const CHANGES = Number(process.env.BENCH_CHANGES ?? 100);
const PROBE_TIMEOUT_MS = 30; // a connection not made in 30 ms (they take well under 1 ms here) is blocked

const scenario = parseScenario(
  JSON.stringify({
    name: 'bench-e2e',
    cluster: { nodes: 2 },
    namespaces: [{ name: 'x' }],
    pods: [
      { namespace: 'x', name: 'client', labels: { role: 'other' }, node: 0, ports: [{ port: 80, protocol: 'TCP' }] },
      { namespace: 'x', name: 'server', labels: { role: 'server' }, node: 1, ports: [{ port: 80, protocol: 'TCP' }] },
    ],
    steps: [{ probes: [{ port: 80, protocol: 'TCP' }] }],
  }),
);
const [client, server] = scenario.pods as [(typeof scenario.pods)[0], (typeof scenario.pods)[0]];
const policy = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { namespace: 'x', name: 'server-from-clients' },
  spec: { podSelector: { matchLabels: { role: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }] },
};
const clientPod = (role: string) => ({ metadata: { namespace: 'x', name: 'client', labels: { role } }, spec: { nodeName: 'node-0', containers: [{ name: 'serve', ports: [{ containerPort: 80, protocol: 'TCP' }] }] }, status: { phase: 'Running', podIPs: client.ips.map((ip) => ({ ip })) } });

// The cycle: each write flips the verdict of client -> server.
const cycle: { what: string; command: WriteCommand; allowed: boolean }[] = [
  { what: 'policy created', command: { op: 'apply', kind: 'NetworkPolicy', object: policy }, allowed: false },
  { what: 'pod label changed', command: { op: 'apply', kind: 'Pod', object: clientPod('client') }, allowed: true },
  { what: 'pod label changed', command: { op: 'apply', kind: 'Pod', object: clientPod('other') }, allowed: false },
  { what: 'policy deleted', command: { op: 'delete', kind: 'NetworkPolicy', namespace: 'x', name: 'server-from-clients' }, allowed: true },
];

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const run = await SandboxRun.start(scenario, false);
try {
  const times: number[] = [];
  const byKind = new Map<string, number[]>();
  for (let i = 0; i < CHANGES; i++) {
    const change = cycle[i % cycle.length]!;
    const start = process.hrtime.bigint();
    await run.write(change.command);
    for (;;) {
      const probeStart = process.hrtime.bigint();
      // A bare connect, not curl: curl's start-up (several ms) would be measured instead of the verdict.
      const connected = await run.cluster.probe(client, { ip: server.ips[0]!, port: 80, protocol: 'TCP' }, PROBE_TIMEOUT_MS, 'socket');
      if (connected === change.allowed) {
        // The verdict was in force when this probe started.
        const ms = Number(probeStart - start) / 1e6;
        times.push(ms);
        byKind.set(change.what, [...(byKind.get(change.what) ?? []), ms]);
        break;
      }
      if (Number(process.hrtime.bigint() - start) / 1e6 > 10_000) throw new Error(`change ${i} (${change.what}) not observed within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await run.settled('quiet between changes');
  }
  console.log(`nftpol end-to-end benchmark: ${CHANGES} API writes, client on node-0 -> server on node-1, probes every ~3 ms`);
  console.log(`  write -> first probe with the new verdict: p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms   (goal p99 <= 100 ms)`);
  for (const [what, list] of byKind) console.log(`    ${what.padEnd(18)} p50 ${percentile(list, 50).toFixed(1)} ms, p99 ${percentile(list, 99).toFixed(1)} ms (${list.length})`);
  console.log(JSON.stringify({ changes: CHANGES, p50Ms: Number(percentile(times, 50).toFixed(1)), p99Ms: Number(percentile(times, 99).toFixed(1)), maxMs: Number(Math.max(...times).toFixed(1)) }));
} finally {
  await run.destroy();
}
