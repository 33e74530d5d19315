// The agent's HTTP endpoints: /metrics on the metrics address, the probes on the healthz address, and
// scrapes that cost the dataplane at most one nft counter read per interval however many scrapers there are.
import { jest } from '@jest/globals';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { Agent } from '../src/agent/agent.js';
import { memoryLogger } from '../src/agent/log.js';
import { agentConfig, DEFAULT_HEALTHZ_ADDRESS, DEFAULT_METRICS_ADDRESS, type AgentFlags } from '../src/cli/agent-command.js';
import { UsageError } from '../src/cli/offline.js';
import { denyCounterName } from '../src/nft/compile.js';
import { kubeListerWatchers, loadKubeConfig } from '../src/watch/kube.js';
import { BASE_AGENT_FLAGS } from './support/agent-flags.js';
import { RecordingRunner } from './support/nft.js';
import { testAgentConfig } from './support/agent-config.js';

jest.setTimeout(30_000);

/** nft's counters as a runner that counts its reads: read n reports n denied packets for x/a. */
class CountingRunner extends RecordingRunner {
  counterReads = 0;
  async listCounters(): Promise<Map<string, number>> {
    this.counterReads++;
    await new Promise((resolve) => setTimeout(resolve, 20)); // an nft process takes a while
    return new Map([[denyCounterName('ingress', 'x/a'), this.counterReads]]);
  }
}

const INTERVAL_MS = 500;
const config = testAgentConfig({
  counterReadIntervalMs: INTERVAL_MS,
});

let api: ApiServerDouble;
let runner: CountingRunner;
let agent: Agent;

async function fetchText(port: number, path: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, text: await response.text() };
}
const denied = (text: string) => Number(/^nftpol_denied_packets_total\{namespace="x",pod="a",direction="ingress"\} (\d+)$/m.exec(text)?.[1]);

beforeEach(async () => {
  api = new ApiServerDouble();
  await api.start();
  api.apply('Namespace', { metadata: { name: 'x' } });
  api.apply('Pod', { metadata: { namespace: 'x', name: 'a' }, spec: { nodeName: 'node-0', containers: [] }, status: { phase: 'Running', podIPs: [{ ip: '10.244.0.10' }] } });
  api.apply('NetworkPolicy', { metadata: { namespace: 'x', name: 'deny' }, spec: { podSelector: {} } });
  runner = new CountingRunner();
  agent = new Agent(config, { sources: kubeListerWatchers(loadKubeConfig(api.kubeconfig)), runner, log: memoryLogger() });
  await agent.start();
  for (let i = 0; i < 800 && (await fetchText(agent.ports.healthz, '/readyz')).status !== 200; i++) await new Promise((r) => setTimeout(r, 10));
});

afterEach(async () => {
  await agent.stop();
  await api.destroy();
});

test('32 concurrent scrapes, then a scrape loop, cost one counter read and one rendering per interval; values are fresh after it', async () => {
  const renders = jest.spyOn(agent.metrics.registry, 'metrics');
  const burst = await Promise.all(Array.from({ length: 32 }, () => fetchText(agent.ports.metrics, '/metrics')));
  expect(burst.map((r) => [r.status, denied(r.text)])).toEqual(Array(32).fill([200, 1]));
  // A counter in Prometheus' conventions, so that rate() and increase() apply (docs/metrics.md).
  expect(burst[0]!.text).toContain('# TYPE nftpol_denied_packets_total counter');
  expect(runner.counterReads).toBe(1);
  expect(renders).toHaveBeenCalledTimes(1);
  const loopStarted = Date.now();
  let scrapes = 0;
  while (Date.now() - loopStarted < INTERVAL_MS / 2) {
    expect(denied((await fetchText(agent.ports.metrics, '/metrics')).text)).toBe(1);
    scrapes++;
  }
  expect(scrapes).toBeGreaterThan(5);
  expect(runner.counterReads).toBe(1);
  expect(renders).toHaveBeenCalledTimes(1);
  await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
  const after = await Promise.all(Array.from({ length: 32 }, () => fetchText(agent.ports.metrics, '/metrics')));
  expect(after.map((r) => denied(r.text))).toEqual(Array(32).fill(2));
  expect(runner.counterReads).toBe(2);
  expect((await agent.metrics.registry.getSingleMetricAsString('nftpol_nft_counter_reads_total'))).toMatch(/result="ok"} 2$/m);
});

test('/metrics on the metrics address only; /healthz and /readyz on the healthz address only', async () => {
  const { metrics, healthz } = agent.ports;
  expect(metrics).not.toBe(healthz);
  expect((await fetchText(metrics, '/metrics')).status).toBe(200);
  expect((await fetchText(healthz, '/healthz')).status).toBe(200);
  expect((await fetchText(healthz, '/readyz')).status).toBe(200);
  expect(await fetchText(metrics, '/healthz')).toEqual({ status: 404, text: 'not found: this address serves /metrics\n' });
  expect(await fetchText(metrics, '/readyz')).toMatchObject({ status: 404 });
  expect(await fetchText(healthz, '/metrics')).toEqual({ status: 404, text: 'not found: this address serves /healthz, /readyz\n' });
});

describe('the bind flags', () => {
  const base: AgentFlags = BASE_AGENT_FLAGS;

  test('defaults: metrics on every address, probes on loopback only', () => {
    expect(DEFAULT_METRICS_ADDRESS).toEqual({ host: '0.0.0.0', port: 9745 });
    expect(DEFAULT_HEALTHZ_ADDRESS).toEqual({ host: '127.0.0.1', port: 9746 });
    expect(agentConfig(base, {})).toMatchObject({ metricsAddress: DEFAULT_METRICS_ADDRESS, healthzAddress: DEFAULT_HEALTHZ_ADDRESS, counterReadIntervalMs: 10_000 });
  });

  test('each flag sets its own address; deprecated --listen sets both and mixes with neither', () => {
    const metricsBindAddress = { host: '10.0.0.5', port: 9000 };
    const healthzBindAddress = { host: '127.0.0.1', port: 9001 };
    expect(agentConfig({ ...base, metricsBindAddress, healthzBindAddress }, {})).toMatchObject({ metricsAddress: metricsBindAddress, healthzAddress: healthzBindAddress });
    const listen = { host: '0.0.0.0', port: 9745 };
    expect(agentConfig({ ...base, listen }, {})).toMatchObject({ metricsAddress: listen, healthzAddress: listen });
    expect(() => agentConfig({ ...base, listen, metricsBindAddress }, {})).toThrow(UsageError);
    // One port on two hosts cannot both bind: refused up front rather than at start.
    expect(() => agentConfig({ ...base, healthzBindAddress: { host: '127.0.0.1', port: 9745 } }, {})).toThrow(/use port 9745 on different hosts/);
    expect(agentConfig({ ...base, metricsBindAddress: listen, healthzBindAddress: listen }, {})).toMatchObject({ metricsAddress: listen, healthzAddress: listen });
  });
});
