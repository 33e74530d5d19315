// The agent with one verb taken from its ClusterRole, on a real kube-apiserver: it says what it cannot do
// (the log names the call and the server's reason, the metric counts it, /readyz fails) and never opens
// traffic: the table of the agent before it keeps enforcing. With the verb back, it recovers by itself.
// Needs root and the binaries of make k8s-bin (skipped with the reason otherwise); runs the built agent
// (npm run build first), as make test does.
import { jest } from '@jest/globals';
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { agentAddress } from '../e2e/daemonset.js';
import { ControlPlane } from '../e2e/k8s/controlplane.js';
import { installAgentIdentity, realBackend } from '../e2e/k8s/sandbox-api.js';
import { SandboxRun } from '../e2e/runner/run.js';
import { parseScenario } from '../src/scenario/format.js';
import { podObject } from '../src/scenario/objects.js';
import { ROOT } from './support/paths.js';
import { onRealControlPlane } from './support/real-control-plane.js';
import { poller } from './support/until.js';

jest.setTimeout(120_000);

const maybe = onRealControlPlane('the RBAC test');

const scenario = parseScenario(
  JSON.stringify({
    name: 'rbac-one-verb-removed',
    cluster: { nodes: 1 },
    namespaces: [{ name: 'x' }],
    pods: [
      { namespace: 'x', name: 'server', labels: { role: 'server' }, node: 0, ports: [{ port: 80, protocol: 'TCP' }] },
      { namespace: 'x', name: 'client', labels: { role: 'client' }, node: 0 },
    ],
    steps: [{ probes: [{ port: 80, protocol: 'TCP' }] }],
  }),
);
const DENY_SERVER = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'deny-server' }, spec: { podSelector: { matchLabels: { role: 'server' } }, policyTypes: ['Ingress'] } };

/** daemonset/clusterrole.yaml as shipped, with `verb` taken from the rule on `resource`. */
function roleWithout(resource: string, verb: string): string {
  const role = parse(readFileSync(join(ROOT, 'daemonset', 'clusterrole.yaml'), 'utf8')) as { rules: { resources: string[]; verbs: string[] }[] };
  const rule = role.rules.find((r) => r.resources.includes(resource))!;
  rule.verbs = rule.verbs.filter((v) => v !== verb);
  return stringify(role);
}

const until = poller({ timeoutMs: 30_000, pollMs: 100 });

maybe('without list on networkpolicies the agent reports it in its log, metric and readiness, and keeps traffic closed', async () => {
  const plane = await ControlPlane.start();
  let run: SandboxRun | undefined;
  try {
    await installAgentIdentity(plane);
    run = await SandboxRun.start(scenario, false, undefined, podObject, realBackend(plane));
    const cluster = run.cluster;
    const [server, client] = scenario.pods;
    const blocked = async () => !(await cluster.probe(client!, { ip: server!.ips[0]!, port: 80, protocol: 'TCP' }));
    // As the DaemonSet binds them: /metrics on 9745, the probes on 9746.
    const agentHttp = async (path: string) => {
      const result = await execa('ip', ['netns', 'exec', cluster.node(0), 'curl', '-s', '-w', '\n%{http_code}', `http://${agentAddress(path === '/metrics' ? '--metrics-bind-address' : '--healthz-bind-address')}${path}`], { reject: false });
      const lines = String(result.stdout).split('\n');
      return { status: Number(lines.pop()), body: lines.join('\n') };
    };

    await run.write({ op: 'apply', kind: 'NetworkPolicy', object: DENY_SERVER });
    await run.settled('the deny policy');
    expect(await blocked()).toBe(true);

    await plane.kubectl(['apply', '-f', '-'], roleWithout('networkpolicies', 'list'));
    const agent = await run.restartAgent(0);
    const refused = () => agent.warnings.find((w) => w.kind === 'NetworkPolicy' && w.phase === 'list');
    await until('the agent to report the refused list', () => refused() !== undefined);
    // The log names the call and carries the server's reason (user, verb, resource).
    expect(String(refused()!.error)).toMatch(/list \/apis\/networking\.k8s\.io\/v1\/networkpolicies: HTTP 403 .*system:serviceaccount:kube-system:nftpol.* cannot list resource "networkpolicies"/);
    const metrics = await agentHttp('/metrics');
    expect(Number(/nftpol_watch_errors_total\{kind="NetworkPolicy",phase="list"\} (\d+)/.exec(metrics.body)?.[1] ?? 0)).toBeGreaterThan(0);
    // Only the refused kind fails: pods and namespaces list and watch.
    expect(agent.warnings.filter((w) => w.phase !== undefined && w.kind !== 'NetworkPolicy')).toEqual([]);
    expect((await agentHttp('/readyz')).status).toBe(503);

    // The table of the agent before keeps enforcing, also after a change this agent cannot see.
    expect(await blocked()).toBe(true);
    await run.write({ op: 'delete', kind: 'NetworkPolicy', namespace: 'x', name: 'deny-server' });
    await run.write({ op: 'apply', kind: 'NetworkPolicy', object: { ...DENY_SERVER, metadata: { namespace: 'x', name: 'deny-server-2' } } });
    expect(await blocked()).toBe(true);

    // The verb given back: the agent's retries succeed, it becomes ready and enforces what it missed.
    await plane.kubectl(['apply', '-f', join(ROOT, 'daemonset', 'clusterrole.yaml')]);
    await until('the agent to become ready', async () => (await agentHttp('/readyz')).status === 200, 60_000);
    await run.settled('the changes it could not see');
    expect(await blocked()).toBe(true);
  } finally {
    await run?.destroy();
    await plane.stop();
  }
});
