// The scenario runner of ../shared/scenarios/FORMAT.md: builds the scenario's cluster out of network
// namespaces, runs the API double in the fabric and the built `nftpol agent` in every node (as the
// DaemonSet runs it), applies the steps through the API, waits until every agent reports the change
// applied, probes every ordered pair with real packets (retrying cells that disagree, as upstream does),
// and writes the output JSON. ENFORCER=kube-router runs a peer in every node instead (enforcer.ts; against
// the real control plane, API=real, the default then); ENFORCER=off (or AGENT=off) runs the same cluster
// without agents (a control run).
//
// Usage: node run.js SCENARIO OUT     exit 0 passed (or nothing expected), 1 an expectation failed, 2 could not run
import type { V1Pod } from '@kubernetes/client-node';
import { execa, type ResultPromise } from 'execa';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { compareWithExpect, type Mismatch } from '../../src/scenario/evaluate.js';
import { nodeIp, parseScenario, ScenarioError, type Scenario, type ScenarioPod, type Step } from '../../src/scenario/format.js';
import { namespaceObject, nodeName, podObject } from '../../src/scenario/objects.js';
import { agentContainer, agentNodeOptions } from '../daemonset.js';
import { SandboxCluster } from '../sandbox/cluster.js';
import { apiBackendFromEnv, type ApiChoice } from './api-choice.js';
import { CannotRun, doubleBackend, type ApiBackend, type RunApi, type WriteCommand, type WriteKind } from './backend.js';
import { probeStepWithRetries, serviceAddresses } from '../sandbox/probes.js';
import { WrittenVersions } from './written.js';
import { enforcerFromEnv, isPeer, peerBinary, type Enforcer, type PeerName } from './enforcer.js';
import { PeerProcess } from './peer-process.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, from the build (dist/e2e/runner) or the sources (e2e/runner, in jest). */
const ROOT = here.includes(join('dist', 'e2e')) ? join(here, '..', '..', '..') : join(here, '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const SETTLE_TIMEOUT_MS = 20_000;

export interface StepOutput {
  readonly name: string;
  readonly results: Record<string, Record<string, string>>;
  readonly sctp: 'associate' | 'one-way' | 'none';
  readonly mismatches: Mismatch[];
  readonly settleSeconds: number;
}

export interface RunOutput {
  readonly scenario: string;
  readonly pods: string[];
  readonly ips: Record<string, string[]>;
  readonly steps: StepOutput[];
  readonly passed: boolean | null;
}

/** An agent process, the resourceVersions its last sync had seen, and its warnings and errors. */
export class AgentProcess {
  versions: Record<string, number> = {};
  syncs = 0;
  readonly warnings: Record<string, unknown>[] = [];
  constructor(
    readonly child: ResultPromise,
    logFile?: string,
  ) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (logFile) appendFileSync(logFile, `${line}\n`);
      try {
        const entry = JSON.parse(line) as { msg?: string; level?: string; versions?: Record<string, string> };
        if (entry.level === 'warn' || entry.level === 'error') this.warnings.push(entry);
        if (entry.msg === 'sync' && entry.versions) {
          this.syncs++;
          this.versions = Object.fromEntries(Object.entries(entry.versions).map(([k, v]) => [k, Number(v) || 0]));
        }
      } catch {
        // not a log line of ours
      }
    });
  }
}

async function until(what: string, condition: () => boolean, detail?: () => string, timeoutMs = SETTLE_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new CannotRun(`timed out waiting for ${what}${detail ? ` (${detail()})` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function checkTools(scenario: Scenario, enforcer: Enforcer): Promise<void> {
  const tools = ['ip', 'nft', ...(scenario.steps.some((s) => s.probes.some((p) => p.protocol === 'SCTP')) ? ['python3'] : []), ...(enforcer === 'kube-router' ? ['iptables', 'ipset'] : [])];
  for (const tool of tools) {
    const found = await execa('sh', ['-c', `command -v ${tool}`], { reject: false });
    if (found.exitCode !== 0) throw new CannotRun(`missing tool: ${tool} (apt-get install nftables iproute2 python3)`);
  }
  if (process.getuid?.() !== 0) throw new CannotRun('the sandbox cluster needs root (network namespaces, nft)');
}

export interface RunHooks {
  /** The cluster exists (to remove it on Ctrl-C). */
  readonly onCluster?: (cluster: SandboxCluster) => void;
  /** A step is done (the demo prints it). */
  readonly afterStep?: (step: Step, output: StepOutput, cluster: SandboxCluster) => Promise<void>;
  /** The run is done, the cluster still up. */
  readonly beforeDestroy?: (cluster: SandboxCluster) => Promise<void>;
  /** Flags added to the DaemonSet's arguments (the demo turns on the denied-connection log). */
  readonly agentArgs?: readonly string[];
}

/** `false` (nftpol) and `true` (none) are the older spelling of the enforcer. */
export type EnforcerChoice = Enforcer | boolean;

function enforcerOf(choice: EnforcerChoice): Enforcer {
  return choice === true ? 'off' : choice === false ? 'nftpol' : choice;
}

/** kube-router's flags: firewall only, in the node's namespace, the sandbox's Service ranges, its sync log. */
function kubeRouterArgs(scenario: Scenario, node: number, kubeconfig: string): string[] {
  const v6 = scenario.ipFamilies.includes('IPv6');
  return [
    '--run-firewall=true',
    '--run-router=false',
    '--run-service-proxy=false',
    `--kubeconfig=${kubeconfig}`,
    `--hostname-override=${nodeName(node)}`,
    // Every node has an IPv4 address (FORMAT.md), so IPv4 stays on; IPv6 with the scenario's families.
    '--enable-ipv4=true',
    `--enable-ipv6=${v6}`,
    `--service-cluster-ip-range=${v6 ? '10.96.0.0/16,fd00:10:96::/112' : '10.96.0.0/16'}`,
    '--metrics-port=0',
    // Its health port is in the node's own namespace, so every node's may be the default.
    '--v=3',
  ];
}

/** A sandbox cluster with its API (the double in its fabric, or a real control plane) and its enforcer (nftpol, a peer, or none) in every node. */
export class SandboxRun {
  private readonly written = new WrittenVersions();
  private agents: AgentProcess[] = [];
  private peers: PeerProcess[] = [];
  /** When the last write was made (Date.now()): a peer has settled once it is quiet after it. */
  private lastWriteAt = 0;
  private constructor(
    readonly enforcer: Enforcer,
    readonly scenario: Scenario,
    readonly cluster: SandboxCluster,
    readonly services: Map<string, string[]>,
    private readonly api: RunApi,
    /** Flags added to the DaemonSet's arguments (a lifecycle case that needs e.g. --strict-mode). */
    private readonly extraAgentArgs: readonly string[],
    private readonly backend: ApiBackend,
  ) {}

  /**
   * `initialPod` says which Pod object each of the scenario's pods starts as in the API (default: the pod
   * as the scenario describes it; null: none yet, the network namespace exists but the API has no pod).
   */
  static async start(
    scenario: Scenario,
    choice: EnforcerChoice,
    onCluster?: (cluster: SandboxCluster) => void,
    initialPod: (pod: ScenarioPod) => V1Pod | null = podObject,
    backend: ApiBackend = doubleBackend,
    /** Flags added to the DaemonSet's arguments (a lifecycle case that needs e.g. --strict-mode). */
    extraAgentArgs: readonly string[] = [],
  ): Promise<SandboxRun> {
    const enforcer = enforcerOf(choice);
    await checkTools(scenario, enforcer);
    if (isPeer(enforcer) && backend.name !== 'real') throw new CannotRun(`ENFORCER=${enforcer} needs a real control plane (API=real, make k8s-bin)`);
    const services = serviceAddresses(scenario);
    const cluster = await SandboxCluster.create({ nodes: scenario.nodes, families: scenario.ipFamilies, pods: scenario.pods, services, ...backend.clusterOptions });
    onCluster?.(cluster);
    let api: RunApi | undefined;
    try {
      api = await backend.open(cluster, scenario);
      const run = new SandboxRun(enforcer, scenario, cluster, services, api, extraAgentArgs, backend);
      for (const ns of scenario.namespaces) await run.write({ op: 'apply', kind: 'Namespace', object: namespaceObject(ns.name, ns.labels) });
      for (const pod of scenario.pods) {
        const object = initialPod(pod);
        if (object) await run.write({ op: 'apply', kind: 'Pod', object });
      }
      for (let i = 0; i < scenario.nodes; i++) {
        if (enforcer === 'nftpol') run.agents.push(await run.startAgent(i));
        else if (isPeer(enforcer)) run.peers.push(await run.startPeer(enforcer, i));
      }
      await run.settled(`the ${enforcer === 'nftpol' ? 'agents' : enforcer} to start and sync`);
      return run;
    } catch (error) {
      await api?.close();
      await cluster.destroy();
      throw error;
    }
  }

  /**
   * The agent of node i with the DaemonSet's own arguments and Node.js options, and the API as the backend hands it to a pod
   * of the DaemonSet (the double: a kubeconfig; a real control plane: the in-cluster service account);
   * NODE_NAME as the downward API sets it.
   */
  private async startAgent(i: number): Promise<AgentProcess> {
    // With the DaemonSet's Node.js options too (its heap cap and young generation): the memory a
    // benchmark reads is then the memory the DaemonSet's pod would use.
    const launch = await this.api.agent(i, [process.execPath, ...agentNodeOptions(), CLI, ...agentContainer().args!, ...this.extraAgentArgs]);
    return new AgentProcess(
      this.cluster.spawn(this.cluster.node(i), launch.file, launch.args, { ...launch.env, NODE_NAME: nodeName(i) }),
      // NFTPOL_AGENT_LOGS=<dir> keeps each agent's log (node-<i>.log) for debugging a run.
      process.env.NFTPOL_AGENT_LOGS ? join(process.env.NFTPOL_AGENT_LOGS, `${nodeName(i)}.log`) : undefined,
    );
  }

  /**
   * A peer on node i, as its DaemonSet runs it (in the node's namespace, as root): kube-router with a
   * kubeconfig for its own ServiceAccount; kube-network-policies, which reads only the in-cluster
   * configuration, as the agent's pod (the agent's ServiceAccount grants what it lists and watches).
   */
  private async startPeer(name: PeerName, i: number): Promise<PeerProcess> {
    const binary = peerBinary(name);
    const logFile = process.env.NFTPOL_AGENT_LOGS ? join(process.env.NFTPOL_AGENT_LOGS, `${nodeName(i)}-${name}.log`) : undefined;
    if (name === 'kube-router') {
      if (!this.backend.peerKubeconfig) throw new CannotRun('kube-router needs a real control plane (API=real)');
      const kubeconfig = await this.backend.peerKubeconfig(this.cluster, i);
      return new PeerProcess(name, this.cluster.spawn(this.cluster.node(i), binary, kubeRouterArgs(this.scenario, i, kubeconfig)), logFile);
    }
    const args = [`--hostname-override=${nodeName(i)}`, '--metrics-bind-address=127.0.0.1:9080', '--disable-nri=true', '--nfqueue-id=98', '--v=2'];
    const launch = await this.api.agent(i, [binary, ...args]);
    return new PeerProcess(name, this.cluster.spawn(this.cluster.node(i), launch.file, launch.args, { ...launch.env, NODE_NAME: nodeName(i) }), logFile);
  }

  /** Every node's enforcer process (the agent or the peer; none when off), for CPU and memory readings. */
  enforcerProcesses(): ResultPromise[] {
    return [...this.agents.map((a) => a.child), ...this.peers.map((p) => p.child)];
  }

  /** Stops every node's enforcer (SIGTERM: each leaves its rules in place, as a DaemonSet pod's restart does). */
  async stopEnforcers(): Promise<void> {
    const children = this.enforcerProcesses();
    for (const child of children) child.kill('SIGTERM');
    for (const child of children) await child.catch(() => undefined);
    this.agents = [];
    this.peers = [];
  }

  /** Starts every node's enforcer again after stopEnforcers(), without waiting for it to sync. */
  async startEnforcers(): Promise<void> {
    for (let i = 0; i < this.scenario.nodes; i++) {
      if (this.enforcer === 'nftpol') this.agents.push(await this.startAgent(i));
      else if (isPeer(this.enforcer)) this.peers.push(await this.startPeer(this.enforcer, i));
    }
  }

  /** The peer of node i (ENFORCER=kube-router or kube-network-policies). */
  peer(i: number): PeerProcess {
    return this.peers[i]!;
  }

  /** The agent of node i now (replaced by restartAgent). */
  agent(i: number): AgentProcess {
    return this.agents[i]!;
  }

  /** Stops node i's agent (SIGTERM: it leaves its table in place, as a DaemonSet pod's restart does) and starts a new one, with a new token. */
  async restartAgent(i: number): Promise<AgentProcess> {
    if (this.enforcer !== 'nftpol') throw new Error(`restartAgent: ENFORCER=${this.enforcer} has no nftpol agent`);
    const old = this.agents[i]!;
    old.child.kill('SIGTERM');
    await old.child.catch(() => undefined);
    this.agents[i] = await this.startAgent(i);
    return this.agents[i]!;
  }

  /** One write to the API (apply or delete); remembers its resourceVersion per kind. */
  async write(command: WriteCommand): Promise<void> {
    this.written.record(command.kind, await this.api.write(this.withHostIp(command)));
    this.lastWriteAt = Date.now();
  }

  /**
   * A Pod's status as its kubelet writes it also names its node's address (status.hostIP, hostIPs):
   * kube-router enforces only for the pods whose hostIP is its node's.
   */
  private withHostIp(command: WriteCommand): WriteCommand {
    if (command.kind !== 'Pod' || command.op !== 'apply') return command;
    const pod = command.object as V1Pod;
    // node-<i>, also beyond the sandbox's nodes (a benchmark's pods on nodes that exist only in the API).
    const index = /^node-(\d+)$/.exec(pod.spec?.nodeName ?? '')?.[1];
    const node = index === undefined ? undefined : Number(index);
    if (node === undefined || !pod.status || pod.status.hostIP) return command;
    const hostIP = nodeIp(node, 'IPv4');
    return { ...command, object: { ...pod, status: { ...pod.status, hostIP, hostIPs: [{ ip: hostIP }] } } };
  }

  /**
   * A write made outside write() (kubectl, many at once): settled() then waits for it too. Only the
   * highest resourceVersion counts (WrittenVersions), so the writes of a burst can be noted in any order.
   */
  wrote(kind: WriteCommand['kind'], resourceVersion: number): void {
    this.written.record(kind, resourceVersion);
    this.lastWriteAt = Date.now();
  }

  /**
   * Waits until every agent has synced with every write seen (returns at once without agents); for a peer,
   * until it is quiet after the last write (peer-process.ts), or fails with its error.
   */
  async settled(what: string, timeoutMs = SETTLE_TIMEOUT_MS): Promise<void> {
    if (this.peers.length > 0) {
      const failed = () => this.peers.find((p) => p.errors.length > 0 && (p.name === 'kube-network-policies' || p.child.exitCode !== null));
      const gone = () => this.peers.find((p) => p.child.exitCode !== null);
      await until(what, () => {
        const broken = failed() ?? gone();
        if (broken) throw new CannotRun(`${broken.name} cannot enforce here: ${broken.errors[0] ?? broken.tail.slice(-3).join(' | ')}`);
        return this.peers.every((p) => p.settledSince(this.lastWriteAt));
      }, () => `${this.peers[0]?.name}: ${this.peers.map((p) => `${p.syncs} syncs${p.syncing ? ', syncing' : ''}${p.errors.length ? `, ${p.errors.at(-1)}` : ''}`).join('; ')}`, timeoutMs);
      return;
    }
    const done = () => this.agents.every((a) => a.syncs > 0 && this.written.seenBy(a.versions));
    await until(what, done, () => `wrote ${JSON.stringify(this.written)}; agents saw ${JSON.stringify(this.agents.map((a) => a.versions))}`, timeoutMs);
  }

  async destroy(): Promise<void> {
    await this.api.close();
    await this.cluster.destroy();
  }
}

export async function runScenario(scenario: Scenario, choice: EnforcerChoice, hooks: RunHooks = {}, backend: ApiBackend = doubleBackend): Promise<RunOutput> {
  const run = await SandboxRun.start(scenario, choice, hooks.onCluster, podObject, backend, hooks.agentArgs);
  const { cluster, services } = run;
  try {
    const steps: StepOutput[] = [];
    for (const step of scenario.steps) {
      const start = process.hrtime.bigint();
      await applyStep(step, scenario, (command) => run.write(command));
      await run.settled(`step "${step.name}" to be applied by every agent`);
      const settleSeconds = run.enforcer === 'off' ? 0 : Number(process.hrtime.bigint() - start) / 1e9;
      const results = await probeStepWithRetries(cluster, scenario, services, step);
      const output: StepOutput = {
        name: step.name,
        results,
        sctp: step.probes.some((p) => p.protocol === 'SCTP') ? 'one-way' : 'none',
        mismatches: compareWithExpect(step, scenario.pods.map((p) => p.key), results),
        settleSeconds: Number(settleSeconds.toFixed(3)),
      };
      steps.push(output);
      await hooks.afterStep?.(step, output, cluster);
    }
    await hooks.beforeDestroy?.(cluster);
    const expects = scenario.steps.some((s) => s.expect !== undefined);
    return {
      scenario: scenario.name,
      pods: scenario.pods.map((p) => p.key),
      ips: Object.fromEntries(scenario.pods.map((p) => [p.key, [...p.ips]])),
      steps,
      passed: expects ? steps.every((s) => s.mismatches.length === 0) : null,
    };
  } finally {
    await run.destroy();
  }
}

async function applyStep(step: Step, scenario: Scenario, write: (command: WriteCommand) => Promise<void>): Promise<void> {
  for (const object of step.apply) {
    const metadata = (object.metadata ?? {}) as { name?: string; namespace?: string; labels?: Record<string, string> };
    if (object.kind === 'NetworkPolicy') {
      await write({ op: 'apply', kind: 'NetworkPolicy', object });
    } else if (object.kind === 'Namespace') {
      await write({ op: 'apply', kind: 'Namespace', object: namespaceObject(String(metadata.name), metadata.labels ?? {}) });
    } else if (object.kind === 'Pod') {
      const pod = scenario.pods.find((p) => p.key === `${metadata.namespace ?? 'default'}/${metadata.name}`);
      if (!pod) throw new ScenarioError(`step "${step.name}": Pod ${metadata.namespace}/${metadata.name} does not exist`);
      await write({ op: 'apply', kind: 'Pod', object: podObject(pod, metadata.labels ?? {}) });
    } else {
      throw new ScenarioError(`step "${step.name}": cannot apply kind ${String(object.kind)}`);
    }
  }
  for (const ref of step.delete) await write({ op: 'delete', kind: ref.kind as WriteKind, namespace: ref.namespace, name: ref.name });
}

async function main(): Promise<number> {
  const [file, out] = process.argv.slice(2);
  if (!file || !out) {
    process.stderr.write('usage: make scenario SCENARIO=<file> OUT=<file>\n');
    return 2;
  }
  let cluster: SandboxCluster | undefined;
  let choice: ApiChoice | undefined;
  const interrupted = () =>
    void (cluster ? cluster.destroy() : Promise.resolve())
      .then(() => choice?.stop())
      .then(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const scenario = parseScenario(readFileSync(file, 'utf8'));
    // API=real: a real control plane (make k8s-bin) instead of the API server double; the default for a peer.
    const enforcer = enforcerFromEnv();
    choice = await apiBackendFromEnv(isPeer(enforcer) ? 'real' : 'double');
    const output = await runScenario(scenario, enforcer, { onCluster: (c) => (cluster = c) }, choice.backend);
    writeFileSync(out, `${JSON.stringify(output, null, 2)}\n`);
    return output.passed === false ? 1 : 0;
  } catch (error) {
    if (error instanceof ScenarioError || error instanceof CannotRun || (error as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`scenario: ${(error as Error).message.split('\n')[0]}\n`);
      return 2;
    }
    process.stderr.write(`scenario: setup failed: ${(error as Error).message.split('\n')[0]}\n`);
    return 2;
  } finally {
    await choice?.stop();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exit(await main());
