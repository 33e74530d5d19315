// Policy cost limits and bad pod addresses in the agent against the API server double (issue 9): reported
// (logged and counted) once per object version, not again on every relist; another policy still enforced.
import { jest } from '@jest/globals';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { Agent } from '../src/agent/agent.js';
import { memoryLogger } from '../src/agent/log.js';
import { DEFAULT_POLICY_LIMITS } from '../src/model/limits.js';
import { kubeListerWatchers, loadKubeConfig } from '../src/watch/kube.js';
import { RecordingRunner } from './support/nft.js';
import { testAgentConfig } from './support/agent-config.js';
import { poller } from './support/until.js';

jest.setTimeout(30_000);

const config = testAgentConfig({
  apiUnreachableGraceMs: 300,
  backoff: { initialMs: 20, maxMs: 200 },
  policyLimits: { ...DEFAULT_POLICY_LIMITS, maxPorts: 2 },
});

const until = poller({ timeoutMs: 8000, pollMs: 10 });

const pod = (name: string, labels: Record<string, string>, ips: string[]) => ({
  metadata: { namespace: 'x', name, labels },
  spec: { nodeName: 'node-0', containers: [] },
  status: { phase: 'Running', podIPs: ips.map((ip) => ({ ip })) },
});
const ports = (...numbers: number[]) => numbers.map((port) => ({ port }));

let api: ApiServerDouble;
let runner: RecordingRunner;
let agent: Agent;
let log: ReturnType<typeof memoryLogger>;

beforeEach(async () => {
  api = new ApiServerDouble();
  await api.start();
  api.apply('Namespace', { metadata: { name: 'x' } });
  api.apply('Pod', pod('a', { app: 'a' }, ['10.244.0.10']));
  api.apply('Pod', pod('zoned', { app: 'z' }, ['10.244.0.11', 'fe80::1%eth0']));
  api.apply('NetworkPolicy', { metadata: { namespace: 'x', name: 'big' }, spec: { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ ports: ports(1, 2) }, { ports: ports(3) }] } });
  api.apply('NetworkPolicy', { metadata: { namespace: 'x', name: 'ordinary' }, spec: { podSelector: { matchLabels: { app: 'z' } }, ingress: [{ ports: ports(80) }] } });
  runner = new RecordingRunner();
  log = memoryLogger();
  agent = new Agent(config, { sources: kubeListerWatchers(loadKubeConfig(api.kubeconfig)), runner, log });
  await agent.start();
  await until('enforced', () => runner.scripts.join('\n').includes('10.244.0.11 : jump in-'));
});

afterEach(async () => {
  await agent.stop();
  await api.destroy();
});

const metric = async (name: string) => (await agent.metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(name));
const warnings = (pattern: RegExp) => log.entries.filter((e) => pattern.test(e.msg)).length;

test('over a limit and bad addresses: enforced up to the limit, reported once per version, again only for a new version', async () => {
  const script = runner.scripts.join('\n');
  expect(script).toContain('th dport { 1, 2 } accept'); // the rule within the limit
  expect(script).not.toMatch(/dport[^\n]*\b3\b/); // the rule over it allows nothing
  expect(script).toContain('10.244.0.11 : jump in-'); // the other policy, on the zoned pod's valid address
  expect(script).not.toContain('fe80::1');
  expect(await metric('nftpol_policy_limit_exceeded_total{')).toEqual(['nftpol_policy_limit_exceeded_total{namespace="x",limit="max-policy-ports"} 1']);
  expect(await metric('nftpol_rejected_objects_total{kind="PodAddress"}')).toEqual(['nftpol_rejected_objects_total{kind="PodAddress"} 1']);

  // A relist (watches dropped after history was compacted: 410 Gone) delivers every object again.
  const lists = () => api.requests.filter((r) => !r.includes('watch=true')).length;
  const listsBefore = lists();
  api.apply('Namespace', { metadata: { name: 'y' } }); // history moves past the Pod and NetworkPolicy watches
  await until('namespace seen', () => [...agent.engine.allNamespaces()].some((n) => n.name === 'y'));
  api.compact();
  api.dropWatches();
  await until('relisted pods and policies', () => lists() >= listsBefore + 2);
  api.apply('Pod', pod('b', { app: 'b' }, ['10.244.0.12']));
  await until('caught up', () => agent.engine.pod('x/b') !== undefined);
  expect(await metric('nftpol_policy_limit_exceeded_total{')).toEqual(['nftpol_policy_limit_exceeded_total{namespace="x",limit="max-policy-ports"} 1']);
  expect(await metric('nftpol_rejected_objects_total{kind="PodAddress"}')).toEqual(['nftpol_rejected_objects_total{kind="PodAddress"} 1']);
  expect(warnings(/over a cost limit/)).toBe(1);
  expect(warnings(/pod address rejected/)).toBe(1);

  // A new version still over the limit is a new report.
  api.apply('NetworkPolicy', { metadata: { namespace: 'x', name: 'big' }, spec: { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ ports: ports(1) }, { ports: ports(2, 3) }] } });
  await until('counted again', async () => (await metric('nftpol_policy_limit_exceeded_total{'))[0]?.endsWith(' 2') === true);
  expect(warnings(/over a cost limit/)).toBe(2);
});
