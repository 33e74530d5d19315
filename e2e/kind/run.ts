// make e2e-kind: nftpol on a real cluster with the scenario files. The cluster comes from a provider
// (provider.ts): kind (one control plane, two workers; needs docker, kind and kubectl, so it cannot run on
// the development machines) or the local nodes of e2e/node (make e2e-node). Pure parts (translate.ts,
// probe.ts, config.ts) are unit-tested; this file only sequences commands.
//
//   1. create the cluster (or reuse CLUSTER if it exists);
//   2. make sure nothing else enforces NetworkPolicy (kind: KIND_CNI=ptp has no kindnet;
//      KIND_CNI=kindnet, the default, pins the last kindnetd without enforcement and deletes the table it left in every
//      node); then prove it with a control scenario, every probe connecting;
//   3. make the image available on the nodes (kind: make image + kind load), install it with kubectl
//      apply -k (daemonset/, or a kustomization that references it and sets the image), wait for the
//      rollout;
//   4. run every scenario: real agnhost pods, probes by kubectl exec + agnhost connect to each pod's IP
//      and ClusterIP, the sandbox runner's output JSON (one file per scenario in OUT);
//   5. if E2E_TEST names an upstream e2e.test binary, run its Netpol tests too;
//   6. delete the cluster (KEEP_CLUSTER=1 keeps it).
//
// Environment: CLUSTER (nftpol-e2e), KIND_NODE_IMAGE (kindest/node:v1.33.1), KIND_IP_FAMILY (dual | ipv4 |
// ipv6; dual), KIND_CNI (kindnet | ptp; kindnet), AGNHOST_IMAGE, SCENARIOS (files or directories, space-separated; default: the shared
// examples, e2e/scenarios and e2e/conformance), OUT (e2e/kind/out), E2E_TEST, KEEP_CLUSTER.
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import { familyOf } from '../../src/model/ip.js';
import type { Labels } from '../../src/model/types.js';
import { compareWithExpect } from '../../src/scenario/evaluate.js';
import { parseScenario, probeKey, type Scenario } from '../../src/scenario/format.js';
import { namespaceObject } from '../../src/scenario/objects.js';
import { controlScenario } from '../runner/control.js';
import type { RunOutput, StepOutput } from '../runner/run.js';
import { parseKindCni } from './config.js';
import { parseProbeOutput, probeScript, rowsFor, targetsFrom } from './probe.js';
import { CannotRun, kindProvider, type ClusterProvider } from './provider.js';
import { formatUpstream, runUpstream } from './upstream.js';
import {
  assignNodes,
  cidrMapping,
  DEFAULT_AGNHOST,
  endpointSlices,
  labelArgs,
  MANAGED_BY,
  podAddresses,
  podObject,
  serviceObject,
  translatePolicy,
  type ClusterNodes,
} from './translate.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const AGNHOST = process.env.AGNHOST_IMAGE ?? DEFAULT_AGNHOST;
const OUT = process.env.OUT ?? join(ROOT, 'e2e', 'kind', 'out');
const SETTLE_TIMEOUT_MS = 20_000;

let kubeconfig = '';
let kubectlBinary = 'kubectl';

async function run(file: string, args: readonly string[], input?: string): Promise<string> {
  const result = await execa(file, args, { reject: false, ...(input !== undefined ? { input } : {}), env: kubeconfig ? { KUBECONFIG: kubeconfig } : {} });
  if (result.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${String(result.stderr).trim().split('\n').slice(-3).join(' ')}`);
  return String(result.stdout);
}

const kubectl = (args: readonly string[], input?: string) => run(kubectlBinary, args, input);
const applyObjects = (objects: readonly unknown[]) => kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));

async function clusterNodes(): Promise<{ name: string; controlPlane: boolean; podCidrs: string[] }[]> {
  const list = JSON.parse(await kubectl(['get', 'nodes', '-o', 'json'])) as { items: { metadata: { name: string; labels?: Labels }; spec: { podCIDRs?: string[]; podCIDR?: string } }[] };
  return list.items.map((n) => ({
    name: n.metadata.name,
    controlPlane: 'node-role.kubernetes.io/control-plane' in (n.metadata.labels ?? {}),
    podCidrs: n.spec.podCIDRs ?? (n.spec.podCIDR ? [n.spec.podCIDR] : []),
  }));
}

async function installNftpol(provider: ClusterProvider): Promise<void> {
  const kustomization = await provider.prepareInstall();
  const start = Date.now();
  await kubectl(['apply', '-k', kustomization]);
  await kubectl(['-n', 'kube-system', 'rollout', 'status', 'daemonset/nftpol', '--timeout=3m']);
  console.log(`nftpol rolled out (${((Date.now() - start) / 1000).toFixed(1)} s)`);
}

/** Everything a scenario run on the cluster keeps between steps. */
interface Deployed {
  readonly scenario: Scenario;
  readonly podIps: Map<string, string[]>;
  readonly serviceIps: Map<string, string[]>;
  readonly mapping: Map<string, string>;
  readonly labels: Map<string, Labels>;
}

async function deploy(scenario: Scenario, nodes: ClusterNodes): Promise<Deployed> {
  const labels = new Map<string, Labels>();
  for (const ns of scenario.namespaces) labels.set(`ns/${ns.name}`, { ...ns.labels, 'kubernetes.io/metadata.name': ns.name });
  for (const pod of scenario.pods) labels.set(pod.key, { ...pod.labels });
  await applyObjects(scenario.namespaces.map((ns) => namespaceObject(ns.name, ns.labels)));
  await applyObjects(scenario.pods.map((pod) => podObject(pod, nodes, AGNHOST)));
  await applyObjects(scenario.pods.filter((p) => p.ports.length > 0).map((pod) => serviceObject(pod, scenario)));
  for (const ns of scenario.namespaces) await kubectl(['-n', ns.name, 'wait', '--for=condition=Ready', 'pod', '--all', '--timeout=5m']);
  const list = JSON.parse(await kubectl(['get', 'pods', '-A', '-o', 'json'])) as { items: V1Pod[] };
  // Only the scenario's families, in its order (a dual-stack cluster also runs IPv4-only scenarios).
  const podIps = new Map([...podAddresses(list, scenario)].map(([k, ips]) => [k, scenario.ipFamilies.map((f) => ips.find((ip) => familyOf(ip) === f)).filter((ip): ip is string => ip !== undefined)]));
  await applyObjects(scenario.pods.filter((p) => p.ports.length > 0).flatMap((pod) => endpointSlices(pod, podIps.get(pod.key) ?? [])));
  const services = JSON.parse(await kubectl(['get', 'services', '-A', '-o', 'json'])) as { items: { metadata: { namespace: string; name: string }; spec: { clusterIPs?: string[] } }[] };
  const serviceIps = new Map<string, string[]>();
  for (const pod of scenario.pods) {
    const svc = services.items.find((s) => s.metadata.namespace === pod.namespace && s.metadata.name === `svc-${pod.name}`);
    serviceIps.set(pod.key, svc?.spec.clusterIPs ?? []);
  }
  return { scenario, podIps, serviceIps, mapping: cidrMapping(scenario, podIps, nodes), labels };
}

async function applyStep(d: Deployed, step: Scenario['steps'][number]): Promise<void> {
  for (const object of step.apply) {
    const metadata = (object.metadata ?? {}) as { name?: string; namespace?: string; labels?: Labels };
    if (object.kind === 'NetworkPolicy') {
      const { policy, unmapped } = translatePolicy(object, d.mapping, d.scenario.pods.map((p) => ({ scenario: p.ips, real: d.podIps.get(p.key) ?? [] })));
      if (unmapped.length > 0) console.log(`     note: ipBlock ${unmapped.join(', ')} names scenario addresses that have no counterpart here; left as written`);
      await applyObjects([policy]);
    } else if (object.kind === 'Namespace' || object.kind === 'Pod') {
      const key = object.kind === 'Namespace' ? `ns/${metadata.name}` : `${metadata.namespace ?? 'default'}/${metadata.name}`;
      const wanted = { ...(metadata.labels ?? {}), ...(object.kind === 'Namespace' ? { 'kubernetes.io/metadata.name': String(metadata.name) } : {}) };
      const args = labelArgs(d.labels.get(key) ?? {}, wanted);
      const target = object.kind === 'Namespace' ? ['namespace', String(metadata.name)] : ['-n', metadata.namespace ?? 'default', 'pod', String(metadata.name)];
      if (args.length > 0) await kubectl(['label', '--overwrite', ...target, ...args]);
      d.labels.set(key, wanted);
    }
  }
  for (const ref of step.delete) await kubectl(['delete', ref.kind.toLowerCase(), ...(ref.kind === 'Namespace' ? [] : ['-n', ref.namespace]), ref.name, '--ignore-not-found']);
}

async function probeAll(d: Deployed, step: Scenario['steps'][number]): Promise<Record<string, Record<string, string>>> {
  const keys = step.probes.map(probeKey);
  const rows = await Promise.all(
    d.scenario.pods.map(async (pod, i) => {
      const targets = targetsFrom(i, d.scenario, step.probes, probeKey, d.podIps, d.serviceIps);
      const container = pod.ports.length > 0 ? `cont-${pod.ports[0]!.port}-${pod.ports[0]!.protocol.toLowerCase()}` : 'idle';
      const result = await execa(kubectlBinary, ['exec', '-n', pod.namespace, pod.name, '-c', container, '--', '/bin/sh', '-c', probeScript(targets)], { reject: false, env: { KUBECONFIG: kubeconfig } });
      return rowsFor(i, d.scenario.pods.length, keys, targets, parseProbeOutput(String(result.stdout), targets.length));
    }),
  );
  return Object.fromEntries(keys.map((k) => [k, Object.fromEntries(d.scenario.pods.map((p, i) => [p.key, rows[i]![k]!]))]));
}

async function runOnKind(scenario: Scenario, nodes: ClusterNodes): Promise<RunOutput> {
  const d = await deploy(scenario, nodes);
  try {
    const steps: StepOutput[] = [];
    for (const step of scenario.steps) {
      const start = Date.now();
      await applyStep(d, step);
      // No agent report to wait for here: probe until the expectation holds (or the deadline passes).
      let results = await probeAll(d, step);
      const podKeys = scenario.pods.map((p) => p.key);
      while (step.expect && compareWithExpect(step, podKeys, results).length > 0 && Date.now() - start < SETTLE_TIMEOUT_MS) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        results = await probeAll(d, step);
      }
      const mismatches = compareWithExpect(step, podKeys, results);
      const sctp = step.probes.some((p) => p.protocol === 'SCTP') ? 'associate' : 'none';
      steps.push({ name: step.name, results, sctp, mismatches, settleSeconds: Number(((Date.now() - start) / 1000).toFixed(3)) });
    }
    const expects = scenario.steps.some((s) => s.expect !== undefined);
    return {
      scenario: scenario.name,
      pods: scenario.pods.map((p) => p.key),
      ips: Object.fromEntries(scenario.pods.map((p) => [p.key, d.podIps.get(p.key) ?? []])),
      steps,
      passed: expects ? steps.every((s) => s.mismatches.length === 0) : null,
    };
  } finally {
    const system = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];
    const owned = scenario.namespaces.map((n) => n.name).filter((n) => !system.includes(n));
    // Namespaces the cluster owns stay: remove what the scenario put there, or the next scenario's pods of
    // the same names (in another node) and its policies would meet them.
    for (const ns of scenario.namespaces.map((n) => n.name).filter((n) => system.includes(n))) {
      const pods = scenario.pods.filter((p) => p.namespace === ns).map((p) => p.name);
      if (pods.length > 0) await kubectl(['-n', ns, 'delete', 'pod', ...pods, '--grace-period=1', '--wait=true', '--ignore-not-found']).catch(() => undefined);
      await kubectl(['-n', ns, 'delete', 'service,endpointslice', '-l', `app.kubernetes.io/managed-by=${MANAGED_BY}`, '--ignore-not-found']).catch(() => undefined);
      await kubectl(['-n', ns, 'delete', 'endpointslice', '-l', `endpointslice.kubernetes.io/managed-by=${MANAGED_BY}`, '--ignore-not-found']).catch(() => undefined);
      if (ns !== 'kube-system') await kubectl(['-n', ns, 'delete', 'networkpolicy', '--all', '--ignore-not-found']).catch(() => undefined);
    }
    if (owned.length > 0) await kubectl(['delete', 'namespace', ...owned, '--wait=true', '--timeout=5m']).catch(() => undefined);
  }
}

/** A scenario that serves or probes SCTP (agnhost cannot do either without the kernel's SCTP). */
export function usesSctp(scenario: Scenario): boolean {
  return scenario.pods.some((p) => p.ports.some((port) => port.protocol === 'SCTP')) || scenario.steps.some((s) => s.probes.some((p) => p.protocol === 'SCTP'));
}

function scenarioFiles(): string[] {
  const sources = process.env.SCENARIOS?.split(/\s+/).filter(Boolean) ?? [join(ROOT, '..', 'shared', 'scenarios', 'examples'), join(ROOT, 'e2e', 'scenarios'), join(ROOT, 'e2e', 'conformance')];
  return sources.flatMap((s) =>
    statSync(s).isDirectory()
      ? readdirSync(s)
          .filter((f) => f.endsWith('.yaml'))
          .sort()
          .map((f) => join(s, f))
      : [s],
  );
}

/** What runs after the scenarios, on the same cluster (make e2e-node: the upstream suite). */
export type AfterScenarios = (context: { kubeconfig: string; kubectl: (args: readonly string[], input?: string) => Promise<string> }) => Promise<number>;

/**
 * The whole run on one provider's cluster: the control scenario without nftpol, nftpol installed, every
 * scenario, then `after` (failures it counts are added). Resolves with the process exit code.
 */
export async function runScenarios(provider: ClusterProvider, after?: AfterScenarios): Promise<number> {
  await provider.checkTools();
  kubectlBinary = provider.kubectl;
  kubeconfig = await provider.create();
  try {
    await provider.disableOtherEnforcement();
    const all = await clusterNodes();
    mkdirSync(OUT, { recursive: true });

    // Without nftpol, a default-deny policy must change nothing: nothing else enforces.
    const control = controlScenario(parseScenario(readFileSync(join(ROOT, 'e2e', 'kind', 'control.yaml'), 'utf8')));
    const controlOut = await runOnKind(control, assignNodes(all, control.nodes));
    writeFileSync(join(OUT, 'control-without-nftpol.json'), `${JSON.stringify(controlOut, null, 2)}\n`);
    if (controlOut.passed !== true) throw new CannotRun('the control run saw blocked connections before nftpol was installed: something else enforces NetworkPolicy (kindnet?)');
    console.log('ok   control: without nftpol a default-deny policy blocks nothing');

    await installNftpol(provider);
    let failed = 0;
    let passed = 0;
    let skipped = 0;
    const sctp = await provider.supportsSctp();
    const started = Date.now();
    for (const file of scenarioFiles()) {
      const scenario = parseScenario(readFileSync(file, 'utf8'));
      if (scenario.nodes > all.length || !scenario.ipFamilies.every((f) => provider.families.includes(f))) {
        console.log(`skip ${scenario.name}: needs ${scenario.nodes} nodes and ${scenario.ipFamilies.join('+')}`);
        skipped++;
        continue;
      }
      if (!sctp && usesSctp(scenario)) {
        console.log(`skip ${scenario.name}: serves or probes SCTP, and the nodes' kernel has no SCTP sockets`);
        skipped++;
        continue;
      }
      const output = await runOnKind(scenario, assignNodes(all, scenario.nodes));
      writeFileSync(join(OUT, `${basename(file, '.yaml')}.json`), `${JSON.stringify(output, null, 2)}\n`);
      if (output.passed === false) failed++;
      else passed++;
      console.log(`${output.passed === false ? 'FAIL' : 'ok  '} ${scenario.name}`);
      for (const m of output.steps.flatMap((s) => s.mismatches)) console.log(`     ${m.probe} ${m.from} -> ${m.to}: expected ${m.expected}, observed ${m.observed}`);
    }
    console.log(`scenarios: ${passed} passed, ${failed} failed, ${skipped} skipped in ${((Date.now() - started) / 1000).toFixed(0)} s`);

    if (after) failed += await after({ kubeconfig, kubectl });
    console.log(failed === 0 ? `${provider.name} passed; outputs in ${OUT}` : `${provider.name} FAILED (${failed}); outputs in ${OUT}`);
    return failed === 0 ? 0 : 1;
  } finally {
    await provider.destroy();
  }
}

/** make e2e-kind: the kind provider; E2E_TEST names an upstream e2e.test binary to run after the scenarios. */
async function main(): Promise<number> {
  const provider = kindProvider({
    root: ROOT,
    cluster: process.env.CLUSTER ?? 'nftpol-e2e',
    nodeImage: process.env.KIND_NODE_IMAGE ?? 'kindest/node:v1.33.1',
    ipFamily: process.env.KIND_IP_FAMILY ?? 'dual',
    cni: parseKindCni(process.env.KIND_CNI),
    keep: Boolean(process.env.KEEP_CLUSTER),
  });
  const e2eTest = process.env.E2E_TEST;
  return runScenarios(
    provider,
    e2eTest && existsSync(e2eTest)
      ? async (context) => {
          const result = await runUpstream({ e2eTest, kubeconfig: context.kubeconfig, reportDir: join(OUT, 'upstream') });
          console.log(formatUpstream(result));
          return result.failed.length === 0 && result.exitCode === 0 ? 0 : 1;
        }
      : undefined,
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exit(await main());
  } catch (error) {
    process.stderr.write(`e2e-kind: ${(error as Error).message.split('\n')[0]}\n`);
    process.exit(2);
  }
}
