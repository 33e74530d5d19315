// explain and matrix against a live cluster (the API server double over HTTP): kubeconfig and context as
// kubectl picks them, list-only reads, -n, -o json|yaml, clear errors with their exit codes, and
// explain --node reading the deny counters from a real agent's /metrics.
import { jest } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ApiServerDouble } from '../e2e/apiserver/double.js';
import { Agent } from '../src/agent/agent.js';
import { memoryLogger } from '../src/agent/log.js';
import { explainRun, matrixRun, type ExplainFlags } from '../src/cli/cluster-commands.js';
import { ClusterError } from '../src/cli/live.js';
import { parsePortSpec, UsageError } from '../src/cli/offline.js';
import { denyCounterName } from '../src/nft/compile.js';
import { kubeListerWatchers, loadKubeConfig } from '../src/watch/kube.js';
import { RecordingRunner } from './support/nft.js';
import { testAgentConfig } from './support/agent-config.js';

jest.setTimeout(30_000);

let api: ApiServerDouble;
let forbidden: Server;

function pod(name: string, app: string, ip: string | null, phase = 'Running') {
  return {
    metadata: { namespace: 'prod', name, labels: { app } },
    spec: { nodeName: 'node-0', containers: [{ name: 'c', ports: [{ containerPort: 5432 }] }] },
    status: { phase, hostIP: '127.0.0.1', ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}) },
  };
}

let deadPort = 0;

/** A kubeconfig with the double as context `double` and a dead server as the current context `dead`. */
function twoContexts(namespace?: string): string {
  const file = join(api.kubeconfig, '..', `two-${namespace ?? 'none'}`);
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: double, cluster: {server: "${api.url}", insecure-skip-tls-verify: true}}, {name: dead, cluster: {server: "http://127.0.0.1:${deadPort}", insecure-skip-tls-verify: true}}]`,
      'users: [{name: reader, user: {token: t}}]',
      `contexts: [{name: double, context: {cluster: double, user: reader${namespace ? `, namespace: ${namespace}` : ''}}}, {name: dead, context: {cluster: dead, user: reader}}]`,
      'current-context: dead',
      '',
    ].join('\n'),
  );
  return file;
}

const explain = (flags: Partial<ExplainFlags>) =>
  explainRun({ files: [], from: 'prod/frontend', to: 'prod/db', port: parsePortSpec('5432/TCP'), family: null, output: 'json', kubeconfig: api.kubeconfig, ...flags });

beforeEach(async () => {
  api = new ApiServerDouble();
  await api.start();
  api.apply('Namespace', { metadata: { name: 'prod' } });
  api.apply('Namespace', { metadata: { name: 'dev' } });
  api.apply('Pod', pod('frontend', 'frontend', '10.244.0.10'));
  api.apply('Pod', pod('db', 'db', '10.244.0.11'));
  api.apply('Pod', pod('batch', 'batch', null, 'Pending'));
  api.apply('Pod', { ...pod('done', 'batch', '10.244.0.12', 'Succeeded') });
  api.apply('Pod', { ...pod('shell', 'shell', '10.244.0.13'), metadata: { namespace: 'dev', name: 'shell', labels: {} } });
  api.apply('NetworkPolicy', {
    metadata: { namespace: 'prod', name: 'db' },
    spec: { podSelector: { matchLabels: { app: 'db' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'frontend' } } }], ports: [{ port: 5432 }] }] },
  });
  forbidden = createServer((_, res) => res.writeHead(403, { 'content-type': 'application/json' }).end('{"kind":"Status","code":403,"reason":"Forbidden"}'));
  await new Promise<void>((resolve) => forbidden.listen(0, '127.0.0.1', () => resolve()));
  // A port nothing listens on: one that was just free.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  deadPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
});

afterEach(async () => {
  await api.destroy();
  forbidden.closeAllConnections();
  await new Promise<void>((resolve) => forbidden.close(() => resolve()));
});

test('explain reads the cluster with list requests only and gives the policies verdict, in json and yaml', async () => {
  const allowed = await explain({});
  expect(allowed.code).toBe(0);
  expect(JSON.parse(allowed.stdout)).toMatchObject({ from: 'prod/frontend', to: 'prod/db', allowed: true, ingress: { isolated: true, policies: ['prod/db'], allowedBy: [{ policy: 'prod/db', index: 0 }] } });
  const denied = await explain({ from: 'dev/shell', output: 'yaml' });
  expect(parseYaml(denied.stdout)).toMatchObject({ from: 'dev/shell', to: 'prod/db', allowed: false, srcIp: '10.244.0.13', ingress: { allowed: false } });
  // A read-only user's RBAC: list of the three kinds, nothing else (no watch, no get, no write).
  expect(new Set(api.requests.map((r) => r.replace(/\?.*/, '')))).toEqual(new Set(['GET /api/v1/pods', 'GET /api/v1/namespaces', 'GET /apis/networking.k8s.io/v1/networkpolicies']));
  expect(api.requests.every((r) => /\?limit=\d+$/.test(r))).toBe(true);
});

test('-n, else the context namespace, names bare pods; --context picks a context; pods without an address are refused by name', async () => {
  const text = await explain({ from: 'frontend', to: 'db', namespace: 'prod', output: 'text' });
  expect(text.stdout).toMatch(/^prod\/frontend \(10\.244\.0\.10\) -> prod\/db \(10\.244\.0\.11\) 5432\/TCP IPv4: ALLOWED$/m);
  const byContext = await explain({ from: 'frontend', to: 'db', kubeconfig: twoContexts('prod'), context: 'double' });
  expect(JSON.parse(byContext.stdout)).toMatchObject({ from: 'prod/frontend', to: 'prod/db', allowed: true });
  // The current context is the dead server: the error names it, and is a cluster error (exit 1).
  await expect(explain({ kubeconfig: twoContexts() })).rejects.toThrow(ClusterError);
  await expect(explain({ kubeconfig: twoContexts() })).rejects.toThrow(/cannot list (pods|namespaces|networkpolicies\.networking\.k8s\.io) from the API server at http:\/\/127\.0\.0\.1:\d+ \(context dead\): .*ECONNREFUSED/);
  await expect(explain({ kubeconfig: twoContexts(), context: 'nope' })).rejects.toThrow(UsageError);
  await expect(explain({ from: 'batch', namespace: 'prod' })).rejects.toThrow(/pod prod\/batch takes part in no connection: it has no address yet \(phase Pending\)/);
  await expect(explain({ from: 'prod/done' })).rejects.toThrow(/it has finished \(phase Succeeded\)/);
  await expect(explain({ from: 'prod/nope' })).rejects.toThrow(/no pod prod\/nope in the cluster/);
});

test('KUBECONFIG is read when --kubeconfig is not given, as kubectl does', async () => {
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = api.kubeconfig;
  try {
    expect(JSON.parse((await explain({ kubeconfig: undefined })).stdout)).toMatchObject({ allowed: true });
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
});

test('matrix of the cluster, or of one namespace with -n; finished and address-less pods are not in it', async () => {
  const all = JSON.parse((await matrixRun({ files: [], ports: [parsePortSpec('5432/TCP')], family: 'IPv4', output: 'json', kubeconfig: api.kubeconfig })).stdout);
  expect(all.pods).toEqual(['prod/frontend', 'prod/db', 'dev/shell']);
  expect(all.results['5432/TCP']).toEqual({ 'prod/frontend': '-..', 'prod/db': '.-.', 'dev/shell': '.X-' });
  const prod = await matrixRun({ files: [], ports: [parsePortSpec('5432/TCP')], family: 'IPv4', output: 'yaml', kubeconfig: api.kubeconfig, namespace: 'prod' });
  expect(parseYaml(prod.stdout)).toEqual({ pods: ['prod/frontend', 'prod/db'], results: { '5432/TCP': { 'prod/frontend': '-.', 'prod/db': '.-' } } });
  await expect(matrixRun({ files: [], ports: [], family: 'IPv4', output: 'table', kubeconfig: api.kubeconfig, namespace: 'empty' })).rejects.toThrow(/no Pod with an address in namespace empty/);
});

test('a user without list rights gets which right is missing (exit 1), not a stack trace', async () => {
  const file = join(api.kubeconfig, '..', 'forbidden');
  writeFileSync(file, `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "http://127.0.0.1:${(forbidden.address() as AddressInfo).port}", insecure-skip-tls-verify: true}}]\nusers: [{name: viewer, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: viewer}}]\ncurrent-context: c\n`);
  const attempt = explain({ kubeconfig: file });
  await expect(attempt).rejects.toThrow(ClusterError);
  await expect(attempt).rejects.toThrow(/cannot list (pods|namespaces|networkpolicies\.networking\.k8s\.io) in all namespaces as viewer \(HTTP 403\)/);
});

describe('explain --node: the deny counters of both ends, read from the agent of their node', () => {
  class Counters extends RecordingRunner {
    async listCounters(): Promise<Map<string, number>> {
      return new Map([[denyCounterName('ingress', 'prod/db'), 42]]);
    }
  }
  let agent: Agent;

  beforeEach(async () => {
    const config = testAgentConfig();
    agent = new Agent(config, { sources: kubeListerWatchers(loadKubeConfig(api.kubeconfig)), runner: new Counters(), log: memoryLogger() });
    await agent.start();
    for (let i = 0; i < 800 && !agent.ready().ready; i++) await new Promise((r) => setTimeout(r, 10));
  });
  afterEach(() => agent.stop());

  test('found through each pod status.hostIP and --metrics-port, or --metrics-url', async () => {
    const denied = await explain({ from: 'dev/shell', node: true, metricsPort: agent.ports.metrics });
    expect(denied.code).toBe(0);
    const url = `http://127.0.0.1:${agent.ports.metrics}/metrics`;
    expect(JSON.parse(denied.stdout).kernel).toEqual([
      { direction: 'egress', pod: 'dev/shell', node: 'node-0', isolated: false, url, deniedPackets: null },
      { direction: 'ingress', pod: 'prod/db', node: 'node-0', isolated: true, url, deniedPackets: 42 },
    ]);
    const text = await explain({ from: 'dev/shell', node: true, metricsUrl: url, output: 'text' });
    expect(text.stdout).toContain(`  ingress of prod/db (packets to it that were denied) on node-0 (${url}): 42 packets denied\n`);
    expect(text.stdout).toContain(`  egress of dev/shell (packets it sent that were denied) on node-0 (${url}): not isolated in this direction, so nothing is denied there\n`);
  });

  test("an agent without the pod's counter (not the pod's node) is told apart from a side that is not isolated", async () => {
    const empty = createServer((_, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('# no series\n'));
    await new Promise<void>((resolve) => empty.listen(0, '127.0.0.1', () => resolve()));
    try {
      const url = `http://127.0.0.1:${(empty.address() as AddressInfo).port}/metrics`;
      const text = await explain({ from: 'dev/shell', node: true, metricsUrl: url, output: 'text' });
      expect(text.stdout).toContain(`  ingress of prod/db (packets to it that were denied) on node-0 (${url}): no deny counter on this agent: is it the pod's node, and has it synced?\n`);
    } finally {
      empty.closeAllConnections();
      await new Promise<void>((resolve) => empty.close(() => resolve()));
    }
  });

  test('an agent that cannot be read: the verdict still, the error per pod, exit 1', async () => {
    const result = await explain({ node: true, metricsUrl: `http://127.0.0.1:${deadPort}/metrics` });
    expect(result.code).toBe(1);
    const out = JSON.parse(result.stdout);
    expect(out.allowed).toBe(true);
    expect(out.kernel.map((r: { error?: string }) => r.error)).toEqual([expect.stringMatching(/^cannot read http:\/\/127\.0\.0\.1:\d+\/metrics: fetch failed: connect ECONNREFUSED/), expect.stringMatching(/^cannot read/)]);
  });
});
