// The agent with the real nft in a sandbox node: a policy written to the API is enforced on real
// packets, and restarting the agent (a table from the earlier run in place) never opens a gap.
import { jest } from '@jest/globals';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { SandboxCluster } from '../e2e/sandbox/cluster.js';
import { Agent } from '../src/agent/agent.js';
import { memoryLogger } from '../src/agent/log.js';
import { nftCommand } from '../src/nft/executor.js';
import type { ScenarioPod } from '../src/scenario/format.js';
import { podObject } from '../src/scenario/objects.js';
import { kubeListerWatchers, loadKubeConfig } from '../src/watch/kube.js';
import { testAgentConfig } from './support/agent-config.js';
import { poller } from './support/until.js';

jest.setTimeout(60_000);

const scenarioPod = (name: string, ip: string): ScenarioPod => ({ namespace: 'x', name, key: `x/${name}`, labels: { pod: name }, node: 0, ips: [ip], hostNetwork: false, ports: [{ port: 80, protocol: 'TCP' }] });
const a = scenarioPod('a', '10.244.0.10');
const b = scenarioPod('b', '10.244.0.11');

const until = poller({ timeoutMs: 10_000, pollMs: 20 });

test('policies written to the API are enforced, and an agent restart leaves no open gap', async () => {
  const api = new ApiServerDouble();
  await api.start();
  const cluster = await SandboxCluster.create({ nodes: 1, families: ['IPv4'], pods: [a, b] });
  const agents: Agent[] = [];
  const startAgent = async () => {
    const config = testAgentConfig();
    const agent = new Agent(config, { sources: kubeListerWatchers(loadKubeConfig(api.kubeconfig)), runner: nftCommand({ netns: cluster.node(0) }), log: memoryLogger() });
    agents.push(agent);
    await agent.start();
    await until('agent ready', () => agent.ready().ready);
    return agent;
  };
  try {
    api.apply('Namespace', { metadata: { name: 'x' } });
    for (const p of [a, b]) api.apply('Pod', podObject(p) as never);
    const agent = await startAgent();
    const reach = () => cluster.probe(a, { ip: b.ips[0]!, port: 80, protocol: 'TCP' }, 300);
    expect(await reach()).toBe(true);

    api.apply('NetworkPolicy', { metadata: { namespace: 'x', name: 'b-closed' }, spec: { podSelector: { matchLabels: { pod: 'b' } } } });
    await until('policy enforced', async () => !(await reach()));

    // Restart: probe all the while; not one connection may get through.
    let probing = true;
    let leaked = 0;
    let probes = 0;
    const prober = (async () => {
      while (probing) {
        probes++;
        if (await reach()) leaked++;
      }
    })();
    await agent.stop();
    await new Promise((resolve) => setTimeout(resolve, 300)); // no agent at all for a while
    await startAgent();
    await new Promise((resolve) => setTimeout(resolve, 300));
    probing = false;
    await prober;
    expect(probes).toBeGreaterThan(2);
    expect(leaked).toBe(0);

    api.delete('NetworkPolicy', 'x', 'b-closed');
    await until('policy delete enforced', () => reach());
  } finally {
    for (const agent of agents) await agent.stop().catch(() => undefined);
    await cluster.destroy();
    await api.destroy();
  }
});
