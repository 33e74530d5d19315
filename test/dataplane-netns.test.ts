// Real packets: every shared example scenario and nftpol's own (e2e/scenarios) in a sandbox cluster of network namespaces (nodes routing
// pods over veths with /32 routes, a second node over a link, ClusterIP DNAT standing in for kube-proxy),
// each node's table programmed by the Dataplane through the real nft, full sync first and incremental
// syncs for every later step. Needs root, nft and ip (CI has them).
import { execa } from 'execa';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxCluster } from '../e2e/sandbox/cluster.js';
import { probeStep, probeStepWithRetries, serviceAddresses } from '../e2e/sandbox/probes.js';
import { Dataplane } from '../src/nft/dataplane.js';
import { nftCommand } from '../src/nft/executor.js';
import { parseScenario, type Scenario } from '../src/scenario/format.js';
import { compareWithExpect, ScenarioModel } from '../src/scenario/evaluate.js';
import { nodeName } from '../src/scenario/objects.js';
import { ROOT, SHARED } from './support/paths.js';

import { jest } from '@jest/globals';

jest.setTimeout(120_000);

const dirs = [join(SHARED, 'scenarios', 'examples'), join(ROOT, 'e2e', 'scenarios')];
const scenarios = dirs.flatMap((dir) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => parseScenario(readFileSync(join(dir, f), 'utf8'))),
);

/** Sum of nftpol's deny counters in a node. */
async function deniedPackets(node: string): Promise<number> {
  const { stdout } = await execa('ip', ['netns', 'exec', node, 'nft', '-j', 'list', 'counters', 'table', 'inet', 'nftpol']);
  const items = (JSON.parse(stdout) as { nftables: { counter?: { name: string; packets: number } }[] }).nftables;
  return items.reduce((sum, item) => sum + (item.counter?.name.startsWith('deny-') ? item.counter.packets : 0), 0);
}

async function withCluster(scenario: Scenario, body: (cluster: SandboxCluster, services: Map<string, string[]>) => Promise<void>): Promise<void> {
  const services = serviceAddresses(scenario);
  const cluster = await SandboxCluster.create({ nodes: scenario.nodes, families: scenario.ipFamilies, pods: scenario.pods, services });
  try {
    await body(cluster, services);
  } finally {
    await cluster.destroy();
  }
}

describe.each(scenarios.map((s) => [s.name, s] as const))('scenario %s with real packets', (_name, scenario) => {
  test('every expectation holds with nftpol enforcing, full then incremental syncs', async () => {
    await withCluster(scenario, async (cluster, services) => {
      const nodes = Array.from({ length: scenario.nodes }, (_, i) => {
        const model = new ScenarioModel(scenario, nodeName(i));
        const dataplane = new Dataplane(model.engine, nftCommand({ netns: cluster.node(i) }), { table: 'nftpol', denyAction: 'drop' });
        return { model, dataplane };
      });
      for (const { model, dataplane } of nodes) expect((await dataplane.sync(model.engine.takeChanges())).mode).toBe('full');
      for (const step of scenario.steps) {
        for (const { model, dataplane } of nodes) {
          const result = await dataplane.sync(model.apply(step));
          expect(result.mode).toBe('partial');
        }
        const observed = await probeStepWithRetries(cluster, scenario, services, step);
        expect(compareWithExpect(step, scenario.pods.map((p) => p.key), observed)).toEqual([]);
        // Denied packets are counted against the pods that denied them (counters live while a pod is isolated).
        if (Object.values(step.expect ?? {}).some((rows) => Object.values(rows).some((row) => row.includes('X')))) {
          let packets = 0;
          for (let i = 0; i < scenario.nodes; i++) packets += await deniedPackets(cluster.node(i));
          expect(packets).toBeGreaterThan(0);
        }
      }
    });
  });
});

test('control: without nftpol every pod reaches every other pod, so the X cells above come from nftpol', async () => {
  const scenario = scenarios.find((s) => s.name === 'default-deny-all')!;
  await withCluster(scenario, async (cluster, services) => {
    const observed = await probeStep(cluster, scenario, services, [{ port: 80, protocol: 'TCP', via: 'pod', family: 'IPv4' }]);
    for (const row of Object.values(observed['80/TCP']!)) expect(row.replace('-', '')).toMatch(/^\.+$/);
  });
});
