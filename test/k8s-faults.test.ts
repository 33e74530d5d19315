// A real fault on a real control plane: kube-apiserver killed (SIGKILL) and started again, with policies
// changing right after it returns. While it is down, the agents keep enforcing (nothing wrongly allowed);
// once it is back, every change is enforced, and each node's table equals a fresh agent's. Needs root and
// the binaries of make k8s-bin (skipped with the reason otherwise); runs the built agent.
import { jest } from '@jest/globals';
import { execa } from 'execa';
import { ControlPlane } from '../e2e/k8s/controlplane.js';
import { installAgentIdentity, realBackend } from '../e2e/k8s/sandbox-api.js';
import { SandboxRun } from '../e2e/runner/run.js';
import { podObject } from '../src/scenario/objects.js';
import { serverClientOtherScenario } from './support/k8s-scenario.js';
import { onRealControlPlane } from './support/real-control-plane.js';

jest.setTimeout(180_000);

const maybe = onRealControlPlane('the fault tests');

const scenario = serverClientOtherScenario('apiserver-restart');
const policy = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name }, spec });
const server = { matchLabels: { role: 'server' } };

/**
 * A node's table without counters (`nft -s`): what it enforces. Its sets, maps, counters and chains as a
 * sorted list: nft lists them in the order they were created, which differs between an agent that built
 * the table change by change and one that built it at once.
 */
async function table(node: string): Promise<string[]> {
  const text = String((await execa('ip', ['netns', 'exec', node, 'nft', '-s', 'list', 'table', 'inet', 'nftpol'])).stdout);
  const body = text.trim().split('\n').slice(1, -1).join('\n');
  return body
    .split(/\n\s*\n/)
    .map((block) => block.trim())
    .sort();
}

/** Waits until no agent has synced for 2 s: whatever they were sent is applied. */
async function quiet(run: SandboxRun, nodes: number): Promise<void> {
  const syncs = () => Array.from({ length: nodes }, (_, i) => run.agent(i).syncs).join();
  for (let last = ''; last !== syncs(); ) {
    last = syncs();
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

maybe('kube-apiserver killed and restarted: nothing opens while it is down, every later change is enforced, and the tables equal fresh agents\'', async () => {
  const plane = await ControlPlane.start();
  let run: SandboxRun | undefined;
  try {
    await installAgentIdentity(plane);
    run = await SandboxRun.start(scenario, false, undefined, podObject, realBackend(plane));
    const cluster = run.cluster;
    const [serverPod, client, other] = scenario.pods;
    const connects = (from: typeof client) => cluster.probe(from!, { ip: serverPod!.ips[0]!, port: 80, protocol: 'TCP' }, 1000);

    await run.write({ op: 'apply', kind: 'NetworkPolicy', object: policy('server-from-clients', { podSelector: server, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }] }) });
    await run.settled('the first policy');
    expect([await connects(client), await connects(other)]).toEqual([true, false]);

    // Down for 3 s: the agents' watches break and their retries fail; the tables stay.
    const restarted = plane.restartApiServer(3000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect([await connects(client), await connects(other)]).toEqual([true, false]);
    await restarted;

    // Changes right after it returns, while the agents are still reconnecting.
    await run.write({ op: 'apply', kind: 'NetworkPolicy', object: policy('server-from-clients', { podSelector: server, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'other' } } }] }] }) });
    await run.write({ op: 'apply', kind: 'Pod', object: podObject(client!, { role: 'client', moved: 'yes' }) });
    // The agents' syncs report these writes once enforced, relist or not.
    await run.settled('the changes after the restart');
    expect([await connects(client), await connects(other)]).toEqual([false, true]);

    // Each agent counted the broken watches and logged them.
    const logged = [0, 1].map((i) => run!.agent(i).warnings.filter((w) => w.phase === 'watch' || w.phase === 'list').length);
    expect(logged.every((n) => n > 0)).toBe(true);

    // The tables equal what fresh agents build from the same API.
    await quiet(run, 2);
    const before = await Promise.all([0, 1].map((i) => table(cluster.node(i))));
    for (const i of [0, 1]) await run.restartAgent(i);
    await run.settled('fresh agents');
    const fresh = await Promise.all([0, 1].map((i) => table(cluster.node(i))));
    expect(before).toEqual(fresh);
  } finally {
    await run?.destroy();
    await plane.stop();
  }
});

maybe('watches that the server ends every few seconds (--min-request-timeout=2) are resumed quietly, and changes after each end are enforced', async () => {
  // kube-apiserver ends each watch after a random 2-4 s; the agents must resume from where they were.
  const plane = await ControlPlane.start({ minRequestTimeoutSeconds: 2 });
  let run: SandboxRun | undefined;
  try {
    await installAgentIdentity(plane);
    run = await SandboxRun.start(scenario, false, undefined, podObject, realBackend(plane));
    const [serverPod, client] = scenario.pods;
    const connects = () => run!.cluster.probe(client!, { ip: serverPod!.ips[0]!, port: 80, protocol: 'TCP' }, 1000);
    const deny = policy('deny-server', { podSelector: server, policyTypes: ['Ingress'] });
    for (let round = 0; round < 3; round++) {
      // Past at least one server-imposed end of every watch.
      await new Promise((resolve) => setTimeout(resolve, 4500));
      await run.write({ op: 'apply', kind: 'NetworkPolicy', object: deny });
      await run.settled(`the deny of round ${round + 1}`);
      expect(await connects()).toBe(false);
      await run.write({ op: 'delete', kind: 'NetworkPolicy', namespace: 'x', name: 'deny-server' });
      await run.settled(`the allow of round ${round + 1}`);
      expect(await connects()).toBe(true);
    }
    // A watch the server ends on time is no failure: nothing logged, nothing counted.
    expect([0, 1].map((i) => run!.agent(i).warnings)).toEqual([[], []]);
  } finally {
    await run?.destroy();
    await plane.stop();
  }
});

maybe('etcd compacted past the agents\' resourceVersions while kube-apiserver is down: their watches get a real 410, they relist, and enforce what changed', async () => {
  const plane = await ControlPlane.start();
  let run: SandboxRun | undefined;
  try {
    await installAgentIdentity(plane);
    run = await SandboxRun.start(scenario, false, undefined, podObject, realBackend(plane));
    const cluster = run.cluster;
    const [serverPod, client, other] = scenario.pods;
    const connects = (from: typeof client) => cluster.probe(from!, { ip: serverPod!.ips[0]!, port: 80, protocol: 'TCP' }, 1000);
    await run.write({ op: 'apply', kind: 'NetworkPolicy', object: policy('server-from-clients', { podSelector: server, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }] }) });
    await run.settled('the first policy');
    // No agent has seen anything newer than this.
    const seen = String(((await plane.api.request('GET', '/api/v1/pods?limit=1')).metadata as { resourceVersion: string }).resourceVersion);

    let compacted = 0;
    await plane.restartApiServer(0, async () => {
      compacted = await plane.compactEtcd();
    });
    expect(compacted).toBeGreaterThan(Number(seen));
    // What the agents' watches met: a watch from their resourceVersion is answered 410 Gone.
    const answer = await new Promise<{ type: string; code?: unknown }>((resolve) => {
      const watch = plane.api.watch('/api/v1/pods', seen, (type, object) => {
        watch.stop();
        resolve({ type, code: object.code });
      });
    });
    expect(answer).toEqual({ type: 'ERROR', code: 410 });

    await run.write({ op: 'apply', kind: 'NetworkPolicy', object: policy('server-from-clients', { podSelector: server, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'other' } } }] }] }) });
    await run.write({ op: 'apply', kind: 'Pod', object: podObject(other!, { role: 'other', moved: 'yes' }) });
    // Made while the agents wait to relist: the relists' syncs report them.
    await run.settled('the changes after the compaction');
    expect([await connects(client), await connects(other)]).toEqual([false, true]);

    await quiet(run, 2);
    const before = await Promise.all([0, 1].map((i) => table(cluster.node(i))));
    for (const i of [0, 1]) await run.restartAgent(i);
    await run.settled('fresh agents');
    expect(before).toEqual(await Promise.all([0, 1].map((i) => table(cluster.node(i)))));
  } finally {
    await run?.destroy();
    await plane.stop();
  }
});
