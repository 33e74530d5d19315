// Strict mode and the denied-connection log never stop the agent: without the conntrack tool or python3
// the agent starts, enforces and is ready, logs the fault, counts it and retries.
import { jest } from '@jest/globals';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { Agent } from '../src/agent/agent.js';
import { conntrackCommand } from '../src/agent/conntrack.js';
import { memoryLogger } from '../src/agent/log.js';
import { listenNflog } from '../src/agent/nflog.js';
import { kubeListerWatchers, loadKubeConfig } from '../src/watch/kube.js';
import { RecordingRunner } from './support/nft.js';
import { testAgentConfig } from './support/agent-config.js';
import { poller } from './support/until.js';

jest.setTimeout(30_000);

const until = poller({ timeoutMs: 8000, pollMs: 10 });

test('a missing conntrack tool and a missing python3: the agent enforces, is ready, logs and counts the faults', async () => {
  const api = new ApiServerDouble();
  await api.start();
  const log = memoryLogger();
  const runner = new RecordingRunner();
  const config = testAgentConfig({
    strictMode: true,
    denyLog: { group: 9745, ratePerSecond: 20 },
  });
  const agent = new Agent(config, {
    sources: kubeListerWatchers(loadKubeConfig(api.kubeconfig)),
    runner,
    log,
    conntrack: conntrackCommand('/nonexistent/conntrack'),
    nflog: (group, snaplen, handlers) => listenNflog(group, snaplen, handlers, ['/nonexistent/python3']),
  });
  try {
    api.apply('Namespace', { metadata: { name: 'x' } });
    api.apply('Pod', { metadata: { namespace: 'x', name: 'a', labels: { app: 'a' } }, spec: { nodeName: 'node-0', containers: [{ name: 'c' }] }, status: { phase: 'Running', podIPs: [{ ip: '10.244.0.10' }] } });
    await agent.start();
    await until('ready', () => agent.ready().ready);
    api.apply('NetworkPolicy', { metadata: { namespace: 'x', name: 'closed' }, spec: { podSelector: {} } });
    await until('policy enforced', () => runner.scripts.some((s) => /ingress-v4 \{ 10\.244\.0\.10 : jump in-/.test(s)));
    // The table still carries both features' rules.
    expect(runner.scripts[0]).toMatch(/ct mark and 0x20000000/);
    expect(runner.scripts.join('\n')).toMatch(/ct state new jump deny-log-in/);
    await until('the strict pass fails and is counted', async () => /nftpol_strict_sweeps_total\{result="error"\} [1-9]/.test(await agent.metrics.registry.metrics()));
    expect(log.entries.some((e) => e.level === 'warn' && /strict mode: could not end denied connections/.test(e.msg))).toBe(true);
    await until('the NFLOG listener failure is logged', () => log.entries.some((e) => e.level === 'error' && /denied-connection log/.test(e.msg)));
    expect(agent.ready().ready).toBe(true);
  } finally {
    await agent.stop();
    await api.destroy();
  }
});
