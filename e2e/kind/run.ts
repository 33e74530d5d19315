// make e2e-kind: nftpol on a real kind cluster (one control plane, two workers), with the scenario files.
// Needs docker, kind and kubectl; it cannot run on the development machines (no Docker engine there), so
// its pure parts (translate.ts, probe.ts) are unit-tested and this file only sequences commands.
//
//   1. create the cluster (or reuse CLUSTER if it exists);
//   2. turn kindnet's own NetworkPolicy enforcement off: pin the last kindnetd without it and delete the
//      table it left in every node; then prove it with a control scenario, every probe connecting;
//   3. build the image (make image), load it into the nodes, install daemonset/ with kubectl apply -k,
//      wait for the rollout;
//   4. run every scenario: real agnhost pods, probes by kubectl exec + agnhost connect to each pod's IP
//      and ClusterIP, the sandbox runner's output JSON (one file per scenario in OUT);
//   5. if E2E_TEST names an upstream e2e.test binary, run its Netpol tests too;
//   6. delete the cluster (KEEP_CLUSTER=1 keeps it).
//
// Environment: CLUSTER (nftpol-e2e), KIND_NODE_IMAGE (kindest/node:v1.33.1), KIND_IP_FAMILY (dual | ipv4 |
// ipv6; dual), AGNHOST_IMAGE, SCENARIOS (files or directories, space-separated; default: the shared
// examples, e2e/scenarios and e2e/conformance), OUT (e2e/kind/out), E2E_TEST, KEEP_CLUSTER.
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
import { parseProbeOutput, probeScript, rowsFor, targetsFrom } from './probe.js';
import {
  assignNodes,
  cidrMapping,
  DEFAULT_AGNHOST,
  endpointSlices,
  labelArgs,
  podAddresses,
  podObject,
  serviceObject,
  translatePolicy,
  type ClusterNodes,
} from './translate.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CLUSTER = process.env.CLUSTER ?? 'nftpol-e2e';
const NODE_IMAGE = process.env.KIND_NODE_IMAGE ?? 'kindest/node:v1.33.1';
const IP_FAMILY = process.env.KIND_IP_FAMILY ?? 'dual';
const AGNHOST = process.env.AGNHOST_IMAGE ?? DEFAULT_AGNHOST;
const OUT = process.env.OUT ?? join(ROOT, 'e2e', 'kind', 'out');
/** The last kindnetd without embedded NetworkPolicy enforcement (what kube-network-policies' CI pins). */
const KINDNETD_WITHOUT_POLICIES = 'docker.io/kindest/kindnetd:v20230809-80a64d96';
/** Tables kindnetd's embedded policy controller leaves behind (named so since kind v0.25.0, and before). */
const KINDNET_TABLES = ['kindnet-network-policies', 'kube-network-policies'];
const SETTLE_TIMEOUT_MS = 20_000;

class CannotRun extends Error {}

let kubeconfig = '';

async function run(file: string, args: readonly string[], input?: string): Promise<string> {
  const result = await execa(file, args, { reject: false, ...(input !== undefined ? { input } : {}), env: kubeconfig ? { KUBECONFIG: kubeconfig } : {} });
  if (result.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${String(result.stderr).trim().split('\n').slice(-3).join(' ')}`);
  return String(result.stdout);
}

const kubectl = (args: readonly string[], input?: string) => run('kubectl', args, input);
const applyObjects = (objects: readonly unknown[]) => kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));

async function checkTools(): Promise<void> {
  for (const tool of ['docker', 'kind', 'kubectl']) {
    const found = await execa('sh', ['-c', `command -v ${tool}`], { reject: false });
    if (found.exitCode !== 0) throw new CannotRun(`missing tool: ${tool} (make e2e-kind needs docker, kind and kubectl)`);
  }
  const docker = await execa('docker', ['info'], { reject: false });
  if (docker.exitCode !== 0) throw new CannotRun('no Docker engine answers (docker info failed): kind needs one');
}

async function createCluster(): Promise<void> {
  const existing = (await run('kind', ['get', 'clusters'])).split('\n');
  if (!existing.includes(CLUSTER)) {
    const config = ['kind: Cluster', 'apiVersion: kind.x-k8s.io/v1alpha4', 'networking:', `  ipFamily: ${IP_FAMILY}`, 'nodes:', '- role: control-plane', '- role: worker', '- role: worker', ''].join('\n');
    const file = join(mkdtempSync(join(tmpdir(), 'nftpol-kind-')), 'kind.yaml');
    writeFileSync(file, config);
    console.log(`creating kind cluster ${CLUSTER} (${NODE_IMAGE}, ${IP_FAMILY})`);
    await run('kind', ['create', 'cluster', '--name', CLUSTER, '--image', NODE_IMAGE, '--config', file, '--wait', '3m']);
  }
  kubeconfig = join(mkdtempSync(join(tmpdir(), 'nftpol-kind-')), 'kubeconfig');
  writeFileSync(kubeconfig, await run('kind', ['get', 'kubeconfig', '--name', CLUSTER]));
}

async function disableKindnetPolicies(): Promise<void> {
  console.log(`turning kindnet's NetworkPolicy enforcement off (kindnetd ${KINDNETD_WITHOUT_POLICIES})`);
  await kubectl(['-n', 'kube-system', 'set', 'image', 'daemonset/kindnet', `kindnet-cni=${KINDNETD_WITHOUT_POLICIES}`]);
  await kubectl(['-n', 'kube-system', 'rollout', 'status', 'daemonset/kindnet', '--timeout=3m']);
  for (const node of (await run('kind', ['get', 'nodes', '--name', CLUSTER])).split('\n').filter(Boolean)) {
    for (const table of KINDNET_TABLES) await execa('docker', ['exec', node, 'nft', 'delete', 'table', 'inet', table], { reject: false });
  }
}

async function clusterNodes(): Promise<{ name: string; controlPlane: boolean; podCidrs: string[] }[]> {
  const list = JSON.parse(await kubectl(['get', 'nodes', '-o', 'json'])) as { items: { metadata: { name: string; labels?: Labels }; spec: { podCIDRs?: string[]; podCIDR?: string } }[] };
  return list.items.map((n) => ({
    name: n.metadata.name,
    controlPlane: 'node-role.kubernetes.io/control-plane' in (n.metadata.labels ?? {}),
    podCidrs: n.spec.podCIDRs ?? (n.spec.podCIDR ? [n.spec.podCIDR] : []),
  }));
}

function clusterFamilies(): string[] {
  return IP_FAMILY === 'dual' ? ['IPv4', 'IPv6'] : IP_FAMILY === 'ipv6' ? ['IPv6'] : ['IPv4'];
}

async function installNftpol(): Promise<void> {
  const image = (await run('make', ['-s', '-C', ROOT, '--no-print-directory', 'print-image'])).trim();
  console.log(`building and loading ${image}`);
  await run('make', ['-C', ROOT, 'image']);
  await run('kind', ['load', 'docker-image', image, '--name', CLUSTER]);
  await kubectl(['apply', '-k', join(ROOT, 'daemonset')]);
  await kubectl(['-n', 'kube-system', 'rollout', 'status', 'daemonset/nftpol', '--timeout=3m']);
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
      const { policy, unmapped } = translatePolicy(object, d.mapping);
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
      const result = await execa('kubectl', ['exec', '-n', pod.namespace, pod.name, '-c', container, '--', '/bin/sh', '-c', probeScript(targets)], { reject: false, env: { KUBECONFIG: kubeconfig } });
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
    const owned = scenario.namespaces.map((n) => n.name).filter((n) => !['default', 'kube-system', 'kube-public', 'kube-node-lease'].includes(n));
    if (owned.length > 0) await kubectl(['delete', 'namespace', ...owned, '--wait=true', '--timeout=5m']).catch(() => undefined);
  }
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

async function main(): Promise<number> {
  await checkTools();
  await createCluster();
  try {
    await disableKindnetPolicies();
    const all = await clusterNodes();
    mkdirSync(OUT, { recursive: true });

    // Without nftpol, a default-deny policy must change nothing: kindnet no longer enforces.
    const control = controlScenario(parseScenario(readFileSync(join(ROOT, 'e2e', 'kind', 'control.yaml'), 'utf8')));
    const controlOut = await runOnKind(control, assignNodes(all, control.nodes));
    writeFileSync(join(OUT, 'control-without-nftpol.json'), `${JSON.stringify(controlOut, null, 2)}\n`);
    if (controlOut.passed !== true) throw new CannotRun('the control run saw blocked connections before nftpol was installed: something else enforces NetworkPolicy (kindnet?)');
    console.log('ok   control: without nftpol a default-deny policy blocks nothing');

    await installNftpol();
    let failed = 0;
    for (const file of scenarioFiles()) {
      const scenario = parseScenario(readFileSync(file, 'utf8'));
      const families = clusterFamilies();
      if (scenario.nodes > all.length || !scenario.ipFamilies.every((f) => families.includes(f))) {
        console.log(`skip ${scenario.name}: needs ${scenario.nodes} nodes and ${scenario.ipFamilies.join('+')}`);
        continue;
      }
      const output = await runOnKind(scenario, assignNodes(all, scenario.nodes));
      writeFileSync(join(OUT, `${basename(file, '.yaml')}.json`), `${JSON.stringify(output, null, 2)}\n`);
      if (output.passed === false) failed++;
      console.log(`${output.passed === false ? 'FAIL' : 'ok  '} ${scenario.name}`);
      for (const m of output.steps.flatMap((s) => s.mismatches)) console.log(`     ${m.probe} ${m.from} -> ${m.to}: expected ${m.expected}, observed ${m.observed}`);
    }

    const e2eTest = process.env.E2E_TEST;
    if (e2eTest && existsSync(e2eTest)) {
      console.log(`running upstream ${e2eTest} --ginkgo.focus=Netpol`);
      const upstream = await execa(e2eTest, ['--ginkgo.focus=Netpol', `--kubeconfig=${kubeconfig}`, '--provider=local'], { reject: false, stdio: 'inherit' });
      if (upstream.exitCode !== 0) failed++;
    }
    console.log(failed === 0 ? `e2e-kind passed; outputs in ${OUT}` : `e2e-kind FAILED (${failed}); outputs in ${OUT}`);
    return failed === 0 ? 0 : 1;
  } finally {
    if (!process.env.KEEP_CLUSTER) await execa('kind', ['delete', 'cluster', '--name', CLUSTER], { reject: false });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exit(await main());
  } catch (error) {
    process.stderr.write(`e2e-kind: ${(error as Error).message.split('\n')[0]}\n`);
    process.exit(2);
  }
}
