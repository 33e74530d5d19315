// `nftpol explain --node` with real packets: the agent with the real nft in a sandbox node, a policy that
// denies, real connection attempts, and explain reading the kernel's deny counter through the agent's
// /metrics, as on a node (--metrics-url http://127.0.0.1:9745/metrics).
import { jest } from '@jest/globals';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { SandboxCluster } from '../e2e/sandbox/cluster.js';
import { Agent } from '../src/agent/agent.js';
import { memoryLogger } from '../src/agent/log.js';
import { explainRun } from '../src/cli/cluster-commands.js';
import { parsePortSpec } from '../src/cli/offline.js';
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

test('explain --node shows the deny counter of the denying side grow with real denied connections', async () => {
  const api = new ApiServerDouble();
  await api.start();
  const cluster = await SandboxCluster.create({ nodes: 1, families: ['IPv4'], pods: [a, b] });
  // Counters read at every scrape, so that each explain sees the kernel's value of that moment.
  const config = testAgentConfig({ counterReadIntervalMs: 1 });
  const agent = new Agent(config, { sources: kubeListerWatchers(loadKubeConfig(api.kubeconfig)), runner: nftCommand({ netns: cluster.node(0) }), log: memoryLogger() });
  try {
    api.apply('Namespace', { metadata: { name: 'x' } });
    for (const p of [a, b]) api.apply('Pod', podObject(p) as never);
    await agent.start();
    await until('agent ready', () => agent.ready().ready);
    const reach = () => cluster.probe(a, { ip: b.ips[0]!, port: 80, protocol: 'TCP' }, 300);
    api.apply('NetworkPolicy', { metadata: { namespace: 'x', name: 'b-closed' }, spec: { podSelector: { matchLabels: { pod: 'b' } } } });
    await until('policy enforced', async () => !(await reach()));

    const explain = async () => {
      const result = await explainRun({
        files: [],
        kubeconfig: api.kubeconfig,
        from: 'x/a',
        to: 'x/b',
        port: parsePortSpec('80/TCP'),
        family: null,
        output: 'json',
        node: true,
        metricsUrl: `http://127.0.0.1:${agent.ports.metrics}/metrics`,
      });
      expect(result.code).toBe(0);
      return JSON.parse(result.stdout) as { allowed: boolean; kernel: { direction: string; pod: string; isolated: boolean; deniedPackets: number | null }[] };
    };
    const before = await explain();
    expect(before.allowed).toBe(false);
    expect(before.kernel[0]).toMatchObject({ direction: 'egress', pod: 'x/a', isolated: false, deniedPackets: null });
    expect(before.kernel[1]).toMatchObject({ direction: 'ingress', pod: 'x/b', isolated: true });
    expect(before.kernel[1]!.deniedPackets).toBeGreaterThan(0); // the attempts that showed the policy enforced

    const attempts = 3;
    for (let i = 0; i < attempts; i++) expect(await reach()).toBe(false);
    const after = await explain();
    // Each refused attempt is at least one dropped SYN.
    expect(after.kernel[1]!.deniedPackets! - before.kernel[1]!.deniedPackets!).toBeGreaterThanOrEqual(attempts);
  } finally {
    await agent.stop();
    await cluster.destroy();
    await api.destroy();
  }
});
