// explain and matrix from files (-f) or, without -f, from the live cluster; explain --node adds the
// kernel's deny counters. Shared by `nftpol` and the kubectl plugin (`kubectl nftpol`).
import { Option, type Command } from 'commander';
import { loadManifestFiles } from '../manifests/load.js';
import { familyOf } from '../model/ip.js';
import { agentUrl, countersText, DEFAULT_METRICS_PORT, readDenyCounters, type CounterRequest } from './deny-counters.js';
import { checkPresent, clusterTarget, readCluster, type ClusterFlags } from './live.js';
import { explainConnection, explainText, matrixCommand, podKey, structured, UsageError, type CommandResult, type ExplainOptions, type MatrixOptions } from './offline.js';

export interface ExplainFlags extends ClusterFlags, Omit<ExplainOptions, 'cluster' | 'namespace'> {
  /** Also read the deny counters of the pods at both ends from their agents. */
  readonly node?: boolean;
  readonly metricsUrl?: string;
  readonly metricsPort?: number;
}

export type MatrixFlags = ClusterFlags & Omit<MatrixOptions, 'cluster'>;

/** The flags that choose a cluster, named and read as kubectl's (without -f the command reads the cluster). */
export function addClusterOptions(command: Command, use: 'explain' | 'matrix'): Command {
  const namespace = use === 'explain' ? "the namespace of pods named without one (default: the context's, else default)" : "only this namespace's pods (default: every namespace)";
  return command
    .option('--kubeconfig <file>', 'without -f, read the live cluster with this kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'the kubeconfig context to use (default: the current context)')
    .option('-n, --namespace <namespace>', namespace);
}

function parsePort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`"${text}" is not a port number`);
  return port;
}

/** explain --node and the agents' address. */
export function addKernelOptions(command: Command): Command {
  return command
    .option('--node', "also show what the kernel did: the deny counters of the pods at both ends, from their nodes' agents")
    .option('--metrics-url <url>', 'read the counters from this agent /metrics URL (e.g. http://127.0.0.1:9745/metrics on a node) instead of each pod\'s node')
    .addOption(new Option('--metrics-port <port>', "the agents' --metrics-bind-address port").argParser(parsePort).default(DEFAULT_METRICS_PORT));
}

type Placement = ReadonlyMap<string, { readonly node: string; readonly hostIP: string | null }>;

/** Where each pod of manifest files runs (spec.nodeName, status.hostIP), as `kubectl get -o yaml` has it. */
function placementInFiles(files: readonly string[]): Placement {
  const placement = new Map<string, { node: string; hostIP: string | null }>();
  for (const { raw } of loadManifestFiles(files).objects) {
    if (raw.kind !== 'Pod') continue;
    const pod = raw as { metadata?: { namespace?: string; name?: string }; spec?: { nodeName?: string }; status?: { hostIP?: string } };
    placement.set(`${pod.metadata?.namespace ?? 'default'}/${pod.metadata?.name ?? '?'}`, { node: pod.spec?.nodeName ?? '', hostIP: pod.status?.hostIP ?? null });
  }
  return placement;
}

export async function explainRun(flags: ExplainFlags): Promise<CommandResult> {
  let options: ExplainOptions;
  let placement: Placement;
  if (flags.files.length > 0) {
    options = { ...flags, namespace: flags.namespace };
    placement = flags.node ? placementInFiles(flags.files) : new Map();
  } else {
    const target = clusterTarget(flags);
    const objects = await readCluster(target);
    for (const end of [flags.from, flags.to]) if (familyOf(end) === null) checkPresent(objects, podKey(end, target.namespace));
    options = { ...flags, cluster: objects.manifests, namespace: target.namespace };
    placement = objects.placement;
  }
  const explanation = explainConnection(options);
  const { query, verdict, pods, overLimit } = explanation;
  let kernel: Awaited<ReturnType<typeof readDenyCounters>> | undefined;
  if (flags.node) {
    const requests: CounterRequest[] = [];
    const add = (direction: 'ingress' | 'egress', pod: string | null) => {
      if (pod === null) return;
      const where = placement.get(pod);
      requests.push({ direction, pod, node: where?.node ?? '', isolated: verdict[direction].isolated, url: agentUrl(where?.hostIP ?? null, flags.metricsPort ?? DEFAULT_METRICS_PORT, flags.metricsUrl) });
    };
    add('egress', pods.src);
    add('ingress', pods.dst);
    kernel = await readDenyCounters(requests);
  }
  const failed = kernel?.some((reading) => 'error' in reading) ?? false;
  const stdout =
    flags.output === 'text'
      ? explainText(query, verdict, overLimit) + (kernel ? countersText(kernel) : '')
      : structured({ ...query, ...verdict, overLimit, ...(kernel ? { kernel } : {}) }, flags.output);
  // The verdict is answered either way; an agent that could not be read is an error, as in kubectl.
  return { stdout, stderr: explanation.stderr, code: failed ? 1 : 0 };
}

export async function matrixRun(flags: MatrixFlags): Promise<CommandResult> {
  if (flags.files.length > 0) return matrixCommand(flags);
  const target = clusterTarget(flags);
  const objects = await readCluster(target);
  // Without -n, every namespace: a matrix of the whole cluster is what `kubectl get pods -A` lists.
  return matrixCommand({ ...flags, cluster: objects.manifests, namespace: flags.namespace });
}
