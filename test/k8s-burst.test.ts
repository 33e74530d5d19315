// A burst on a real control plane: 1,000 objects (899 pods, 101 policies) in one `kubectl apply` of a
// List, then the 899 pods' statuses (podIP, Running) written as kubelets would. The agents apply every one
// of them (their syncs report the last write, their metrics count every object, the policies among them
// take effect on real packets), log no warning and count no failure, and each node's table equals what a
// fresh agent builds. Needs root and the binaries of make k8s-bin (skipped with the reason otherwise).
import { jest } from '@jest/globals';
import { execa } from 'execa';
import { ControlPlane } from '../e2e/k8s/controlplane.js';
import { installAgentIdentity, realBackend } from '../e2e/k8s/sandbox-api.js';
import { SandboxRun } from '../e2e/runner/run.js';
import { nodeName, podObject } from '../src/scenario/objects.js';
import { serverClientOtherScenario } from './support/k8s-scenario.js';
import { onRealControlPlane } from './support/real-control-plane.js';

jest.setTimeout(300_000);

const maybe = onRealControlPlane('the burst test');

const PODS = 899;
const GROUPS = 100;

const scenario = serverClientOtherScenario('kubectl-burst');

const burstPod = (i: number) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { namespace: 'x', name: `burst-${i}`, labels: { burst: `g${i % GROUPS}` } },
  spec: { nodeName: nodeName(i % 2), containers: [{ name: 'c', image: 'nftpol/sandbox', ports: [{ containerPort: 8080, protocol: 'TCP' }] }] },
});
// Addresses outside the sandbox's pod ranges (10.244.<node>.0/24): no packet goes there.
const burstStatus = (i: number) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'x', name: `burst-${i}` }, status: { phase: 'Running', podIP: `10.250.${i >> 8}.${i & 255}`, podIPs: [{ ip: `10.250.${i >> 8}.${i & 255}` }] } });
const policy = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name }, spec });
const groupPolicy = (g: number) => policy(`burst-g${g}`, { podSelector: { matchLabels: { burst: `g${g}` } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 8080 }] }] });
// The one that real packets show: the server admits only `other` from now on.
const serverPolicy = policy('burst-server', { podSelector: { matchLabels: { role: 'server' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'other' } } }] }] });

async function table(node: string): Promise<string[]> {
  const text = String((await execa('ip', ['netns', 'exec', node, 'nft', '-s', 'list', 'table', 'inet', 'nftpol'])).stdout);
  return text.trim().split('\n').slice(1, -1).join('\n').split(/\n\s*\n/).map((block) => block.trim()).sort();
}

/** One agent's metrics, as Prometheus scrapes them (its metrics port, inside its node's namespace). */
async function metrics(node: string): Promise<Map<string, number>> {
  const text = String((await execa('ip', ['netns', 'exec', node, 'curl', '-s', 'http://127.0.0.1:9745/metrics'])).stdout);
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(nftpol_[^ ]+) (\S+)$/.exec(line);
    if (match) values.set(match[1]!, Number(match[2]));
  }
  return values;
}
const sum = (values: Map<string, number>, prefix: string) => [...values].filter(([k]) => k.startsWith(prefix)).reduce((total, [, v]) => total + v, 0);

async function quiet(run: SandboxRun, nodes: number): Promise<void> {
  const syncs = () => Array.from({ length: nodes }, (_, i) => run.agent(i).syncs).join();
  for (let last = ''; last !== syncs(); ) {
    last = syncs();
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

/** Runs `work` on each item, `width` at a time. */
async function pool<T>(items: readonly T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

maybe('1,000 objects in one kubectl apply, then 899 pod statuses: every change enforced, nothing logged or counted as a failure, tables equal fresh agents\'', async () => {
  const plane = await ControlPlane.start();
  let run: SandboxRun | undefined;
  try {
    await installAgentIdentity(plane);
    run = await SandboxRun.start(scenario, false, undefined, podObject, realBackend(plane));
    const cluster = run.cluster;
    const [serverPod, client, other] = scenario.pods;
    const connects = (from: typeof client) => cluster.probe(from!, { ip: serverPod!.ips[0]!, port: 80, protocol: 'TCP' }, 1000);
    expect([await connects(client), await connects(other)]).toEqual([true, true]);
    const syncsBefore = [0, 1].map((i) => run!.agent(i).syncs);

    // One List, one kubectl apply: the policies first, as a user's manifest would put them.
    const list = { apiVersion: 'v1', kind: 'List', items: [serverPolicy, ...Array.from({ length: GROUPS }, (_, g) => groupPolicy(g)), ...Array.from({ length: PODS }, (_, i) => burstPod(i))] };
    expect(list.items).toHaveLength(1000);
    const started = Date.now();
    const applied = JSON.parse(await plane.kubectl(['apply', '--server-side', '--field-manager=burst', '-o', 'json', '-f', '-'], JSON.stringify(list))) as { items: { kind: 'Pod' | 'NetworkPolicy'; metadata: { resourceVersion: string } }[] };
    const applyMs = Date.now() - started;
    expect(applied.items).toHaveLength(1000);
    for (const item of applied.items) run.wrote(item.kind, Number(item.metadata.resourceVersion));

    // Then every pod's status, as its kubelet writes it once the pod runs.
    const statusStarted = Date.now();
    await pool(Array.from({ length: PODS }, (_, i) => i), 16, async (i) => {
      const answer = await plane.api.apply(`/api/v1/namespaces/x/pods/burst-${i}/status`, burstStatus(i), 'burst-kubelet');
      run!.wrote('Pod', Number(answer.metadata?.resourceVersion));
    });
    const statusMs = Date.now() - statusStarted;
    const written = Date.now();
    await run.settled('the burst');
    const settledMs = Date.now() - started;
    const lagMs = Date.now() - written;

    // Real packets: the server policy of the burst is in force.
    expect([await connects(client), await connects(other)]).toEqual([false, true]);
    // Every object reached each agent: each node isolates its own burst pods (and node-1 the server), and
    // its table holds the address of each of them (written by the statuses).
    const counted = await Promise.all([0, 1].map((i) => metrics(cluster.node(i))));
    expect(counted.map((m) => [m.get('nftpol_local_pods{isolation="ingress"}'), m.get('nftpol_local_pods{isolation="none"}')])).toEqual([
      [450, 2],
      [450, 0],
    ]);
    const tables = await Promise.all([0, 1].map(async (k) => (await table(cluster.node(k))).join('\n')));
    const missing = Array.from({ length: PODS }, (_, i) => i).filter((i) => !new RegExp(`\\b10\\.250\\.${i >> 8}\\.${i & 255}\\b`).test(tables[i % 2]!));
    expect(missing).toEqual([]);
    // Nothing failed: no warning or error logged, no watch failure, rejection or failed sync counted.
    expect([0, 1].map((i) => run!.agent(i).warnings)).toEqual([[], []]);
    for (const m of counted) expect([sum(m, 'nftpol_watch_failures_total'), sum(m, 'nftpol_rejected_objects_total'), sum(m, 'nftpol_sync_failures_total')]).toEqual([0, 0, 0]);

    await quiet(run, 2);
    const syncs = [0, 1].map((i) => run!.agent(i).syncs - syncsBefore[i]!);
    const coalesced = counted.map((m) => m.get('nftpol_events_coalesced_total') ?? 0);
    const watched = counted.map((m) => `${m.get('nftpol_watched_objects{kind="Pod"}')} pods, ${m.get('nftpol_watched_objects{kind="NetworkPolicy"}')} policies`);
    console.log(
      `burst of 1,000 objects: kubectl apply ${applyMs} ms, 899 statuses ${statusMs} ms (16 at a time), first write to every agent's sync reporting the last ${settledMs} ms (${lagMs} ms after the last write); ` +
        `syncs per agent ${syncs.join(', ')}; events coalesced ${coalesced.join(', ')}; nftpol_watched_objects ${watched.join(' / ')}`,
    );

    const before = await Promise.all([0, 1].map((i) => table(cluster.node(i))));
    for (const i of [0, 1]) await run.restartAgent(i);
    await run.settled('fresh agents');
    expect(before).toEqual(await Promise.all([0, 1].map((i) => table(cluster.node(i)))));
  } finally {
    await run?.destroy();
    await plane.stop();
  }
});
